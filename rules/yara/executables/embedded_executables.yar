// Native executables and shellcode inside tensor data or archive members. A model needs none of them;
// an executable at offset 0 is the artifact itself (sniffed as elf/pe/macho), so these look past it.

rule MAL_Embedded_ELF_Executable
{
    meta:
        id = "MSY-EXE-001"
        description = "ELF executable/shared object header embedded at a non-zero offset"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        severity = "high"
        score = 85
        category = "executables"
        version = 1
        scope = "tensor-data,member,small-file"
    strings:
        $elf_le = { 7F 45 4C 46 (01|02) 01 01 (00|03|09|0C|61) 00 00 00 00 00 00 00 00 (01|02|03|04) 00 }
        $elf_be = { 7F 45 4C 46 (01|02) 02 01 (00|03|09|0C|61) 00 00 00 00 00 00 00 00 00 (01|02|03|04) }
    condition:
        $elf_le in (1..filesize) or $elf_be in (1..filesize)
}

rule MAL_Embedded_PE_Executable
{
    meta:
        id = "MSY-EXE-002"
        description = "Windows PE executable (MZ header with PE signature, or DOS stub) embedded at a non-zero offset"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        severity = "high"
        score = 85
        category = "executables"
        version = 1
        scope = "tensor-data,member,small-file"
    strings:
        $mz = { 4D 5A 90 00 03 00 00 00 04 00 00 00 FF FF 00 00 B8 00 00 00 00 00 00 00 40 00 }
        $stub = "This program cannot be run in DOS mode"
    condition:
        $mz in (1..filesize) or (#stub > 0 and not (uint16(0) == 0x5A4D))
}

rule MAL_Embedded_MachO_Executable
{
    meta:
        id = "MSY-EXE-003"
        description = "Mach-O executable/dylib/bundle header (x86_64 or arm64) embedded at a non-zero offset"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        severity = "high"
        score = 80
        category = "executables"
        version = 1
        scope = "tensor-data,member,small-file"
    strings:
        $macho64 = { CF FA ED FE (07|0C) 00 00 01 ?? ?? ?? ?? (02|06|08) 00 00 00 }
        $macho32 = { CE FA ED FE (07|0C) 00 00 00 ?? ?? ?? ?? (02|06|08) 00 00 00 }
    condition:
        $macho64 in (1..filesize) or $macho32 in (1..filesize)
}

rule MAL_Embedded_Shellcode_Execve_Binsh
{
    meta:
        id = "MSY-EXE-004"
        description = "x86/x86-64 shellcode building the string /bin//sh or /bin/sh on the stack for execve"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        severity = "high"
        score = 80
        category = "executables"
        version = 1
        scope = "tensor-data,member,small-file"
    strings:
        $x86_push = "h//shh/bin"  // 68 2F 2F 73 68 68 2F 62 69 6E: push "//sh"; push "/bin"
        $x64_movabs = { 48 BB 2F 62 69 6E 2F 2F 73 68 }
        $x64_movabs0 = { 48 B? 2F 62 69 6E 2F 73 68 00 }
    condition:
        any of them
}
