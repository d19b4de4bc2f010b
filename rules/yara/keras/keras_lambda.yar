// Keras and TensorFlow models whose config runs code: Lambda layers (marshal bytecode of a Python
// function), configs naming unsafe modules (CVE-2025-1550 safe_mode bypass), file I/O graph ops.

rule SUSP_Keras_Lambda_Layer
{
    meta:
        id = "MSY-KRS-001"
        description = "Keras model config with a Lambda layer (runs a serialized Python function when loaded unsafely)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://hiddenlayer.com/innovation-hub/models-are-code/#Code-Execution-via-Lambda"
        severity = "medium"
        score = 55
        category = "keras"
        version = 1
        scope = "config,header,member,small-file"
    strings:
        $plain = /"class_name"\s*:\s*"Lambda"/
        $escaped = /\\"class_name\\"\s*:\s*\\"Lambda\\"/
    condition:
        any of them
}

rule MAL_Keras_Lambda_Marshal_Bytecode
{
    meta:
        id = "MSY-KRS-002"
        description = "Keras Lambda function serialized as base64 marshal bytecode (\"function\"/\"code\": \"4w...\")"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://kb.cert.org/vuls/id/253266"
        severity = "critical"
        score = 90
        category = "keras"
        version = 1
        scope = "config,header,member,small-file"
    strings:
        $func = /"(function|code)"\s*:\s*\[?\s*"(4w|Yw)[A-Za-z0-9+\/]{10}/
        $escaped = /\\"(function|code)\\"\s*:\s*\[?\s*\\"(4w|Yw)[A-Za-z0-9+\/]{10}/
    condition:
        any of them
}

rule EXPL_Keras_Config_Unsafe_Module
{
    meta:
        id = "MSY-KRS-003"
        description = "Keras config deserializes an object from an unsafe module (builtins, os, subprocess, ...): CVE-2025-1550"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://github.com/advisories/GHSA-48g7-3x6r-xfhp"
        severity = "high"
        score = 85
        category = "keras"
        version = 1
        scope = "config,header,member,small-file"
    strings:
        $module = /"module"\s*:\s*"(builtins|__builtin__|os|posix|nt|subprocess|runpy|importlib|shutil|socket|pty|sys|webbrowser|ctypes|pickle|marshal)"/
    condition:
        $module
}

rule SUSP_TensorFlow_Graph_File_IO_Op
{
    meta:
        id = "MSY-KRS-004"
        description = "TensorFlow graph node with a file I/O op (ReadFile, WriteFile, MatchingFiles): reads or writes host files"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://hiddenlayer.com/innovation-hub/models-are-code/#Exfiltration-via-ReadFile"
        severity = "medium"
        score = 55
        category = "keras"
        version = 1
        scope = "member,small-file"
    strings:
        // NodeDef.op (field 2, length-delimited): 0x12 <len> <op name>
        $write = { 12 09 57 72 69 74 65 46 69 6C 65 }
        $read = { 12 08 52 65 61 64 46 69 6C 65 }
        $match = { 12 0D 4D 61 74 63 68 69 6E 67 46 69 6C 65 73 }
    condition:
        any of them
}
