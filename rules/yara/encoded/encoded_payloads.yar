// Payloads carried encoded: long base64 or hex blobs whose first bytes decode to code or executables,
// and code that decodes and runs them. Prefixes are aligned to the start of the blob.

rule SUSP_Base64_Python_Code_Blob
{
    meta:
        id = "MSY-ENC-001"
        description = "Long base64 blob that decodes to Python code (import os/subprocess/socket/pty, __import__, exec(, eval()"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/"
        severity = "high"
        score = 75
        category = "encoded"
        version = 1
        scope = "metadata,config,code,pickle,member,small-file"
    strings:
        $import = /(aW1wb3J0IG9z|aW1wb3J0IHN1YnByb2Nl|aW1wb3J0IHNvY2tl|aW1wb3J0IHB0|ZnJvbSBvcyBpbXBv|X19pbXBvcnRfXygi|X19pbXBvcnRfXygn)[A-Za-z0-9+\/]{40}/
        $call = /(ZXhlYy|ZXZhbC)[g-j][A-Za-z0-9+\/]{40}/
    condition:
        any of them
}

rule SUSP_Base64_Shell_Command_Blob
{
    meta:
        id = "MSY-ENC-002"
        description = "Base64 blob that decodes to a shell command (/bin/sh -i, bash -i >&, /dev/tcp/) or UTF-16 PowerShell (IEX, WebClient, TCPClient)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/"
        severity = "high"
        score = 75
        category = "encoded"
        version = 1
        scope = "metadata,config,code,pickle,member,small-file"
    strings:
        $unix = /(L2Jpbi9zaCAt|L2Jpbi9iYXNoIC1p|YmFzaCAtaSA\+|L2Rldi90Y3Av)[A-Za-z0-9+\/]{8}/
        $ps_iex = /SQBFAFgA[A-Za-z0-9+\/]{16}/
        $ps_invoke = "SQBuAHYAbwBrAGUALQBFAHgAcAByAGUAcwBzAGkAbwBu"
        $ps_webclient = "TgBlAHcALQBPAGIAagBlAGMAdAAgAE4AZQB0AC4AVwBlAGIAQwBsAGkAZQBuAHQA"
        $ps_tcpclient = "UwB5AHMAdABlAG0ALgBOAGUAdAAuAFMAbwBjAGsAZQB0AHMALgBUAEMAUABDAGwAaQBlAG4AdA"
    condition:
        any of them
}

rule SUSP_Hex_Encoded_Executable
{
    meta:
        id = "MSY-ENC-003"
        description = "Long hex string that decodes to an ELF or PE header (7f454c46..., 4d5a9000...)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/"
        severity = "high"
        score = 80
        category = "encoded"
        version = 1
        scope = "metadata,config,code,pickle,member,small-file,tensor-data"
    strings:
        $elf = /7f454c460[12]0[12]01[0-9a-f]{64}/ nocase
        $pe = /4d5a90000300000004000000ffff0000[0-9a-f]{32}/ nocase
    condition:
        any of them
}

rule SUSP_Base64_Encoded_Executable
{
    meta:
        id = "MSY-ENC-004"
        description = "Long base64 blob that decodes to an ELF or PE header"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/"
        severity = "high"
        score = 80
        category = "encoded"
        version = 1
        scope = "metadata,config,code,pickle,member,small-file,tensor-data"
    strings:
        $elf = /f0VMRg[EI]B[A-Za-z0-9+\/]{40}/
        $pe = /TVqQAAMAAAAEAAAA\/\/8A[A-Za-z0-9+\/]{24}/
    condition:
        any of them
}

rule SUSP_Python_Exec_Of_Decoded_Payload
{
    meta:
        id = "MSY-ENC-005"
        description = "Python executes a decoded blob (exec(base64.b64decode(...)), eval(zlib.decompress(...)), marshal.loads)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/"
        severity = "high"
        score = 85
        category = "encoded"
        version = 1
        scope = "metadata,config,code,pickle,member,small-file"
    strings:
        $exec_decode = /\b(exec|eval)\s*\(\s*(base64\.(b64|b32|b16|urlsafe_b64)decode|zlib\.decompress|bz2\.decompress|lzma\.decompress|marshal\.loads|codecs\.decode|bytes\.fromhex|binascii\.(unhexlify|a2b_base64))\s*\(/
        $exec_import = /\b(exec|eval)\s*\(\s*__import__\(\s*["'](base64|zlib|marshal|codecs|binascii)["']\s*\)\./
    condition:
        any of them
}

rule SUSP_Base64_Pickle_Blob
{
    meta:
        id = "MSY-ENC-006"
        description = "Base64 blob that decodes to a pickle starting with an import (a serialized callable hidden in text)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://blog.trailofbits.com/2024/06/11/exploiting-ml-models-with-pickle-file-attacks-part-1/"
        severity = "medium"
        score = 55
        category = "encoded"
        version = 1
        scope = "metadata,config,code,member,small-file"
    strings:
        $p23 = /gA[JN]j[A-Za-z0-9+\/]{40}/
        $p45 = /gA[SW]V[A-Za-z0-9+\/]{4}AAAAAACM[A-Za-z0-9+\/]{20}/
    condition:
        any of them
}
