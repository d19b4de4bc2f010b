// Containers hidden where a model keeps numbers: an archive, compressed stream or pickle inside tensor
// bytes, metadata or another container. Each rule leaves out the file type that legitimately holds it
// (a zip holds local headers, a tar holds files, a pickle file is a pickle).

rule SUSP_Embedded_Zip_Local_Header
{
    meta:
        id = "MSY-SMG-001"
        description = "ZIP local file header inside data that is not itself a zip or tar (smuggled archive, polyglot)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        severity = "medium"
        score = 50
        category = "smuggling"
        version = 1
        scope = "tensor-data,member,small-file"
    strings:
        $lfh = { 50 4B 03 04 (0A|14|2D) 00 (00|02|04|06|08|0A|0C|0E) (00|08) (00|08) 00 }
    condition:
        $lfh in (1..filesize)
        and not (uint32(0) == 0x04034B50)
        and not (filesize > 262 and uint32(257) == 0x61747375)
}

rule SUSP_Embedded_Pickle_Stream_With_Import
{
    meta:
        id = "MSY-SMG-002"
        description = "Pickle stream that starts with an import, embedded at a non-zero offset of a non-pickle, non-archive file"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://blog.trailofbits.com/2024/06/11/exploiting-ml-models-with-pickle-file-attacks-part-1/"
        severity = "medium"
        score = 60
        category = "smuggling"
        version = 1
        scope = "tensor-data,member,small-file"
    strings:
        $p2 = /\x80\x02c[A-Za-z_][\w.]{0,60}\n[A-Za-z_]\w{0,60}\n/
        $p3 = /\x80\x03c[A-Za-z_][\w.]{0,60}\n[A-Za-z_]\w{0,60}\n/
        $p4 = /\x80[\x04\x05]\x95[\x00-\xff]{3}\x00\x00\x00\x00\x00\x8c[\x01-\x40][A-Za-z_][\w.]{0,63}\x94\x8c[\x01-\x40][A-Za-z_]\w{0,63}\x94\x93/
    condition:
        ($p2 in (1..filesize) or $p3 in (1..filesize) or $p4 in (1..filesize))
        and not (uint8(0) == 0x80)
        and not (uint32(0) == 0x04034B50)
        and not (filesize > 262 and uint32(257) == 0x61747375)
}

rule SUSP_Embedded_7z_Archive
{
    meta:
        id = "MSY-SMG-003"
        description = "7-Zip archive signature at a non-zero offset (7z was used to hide PyTorch pickles from scanners)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face"
        severity = "medium"
        score = 50
        category = "smuggling"
        version = 1
        scope = "tensor-data,member,small-file"
    strings:
        $sz = { 37 7A BC AF 27 1C 00 (02|03|04) }
    condition:
        $sz in (1..filesize)
}

rule SUSP_Embedded_Gzip_Stream
{
    meta:
        id = "MSY-SMG-004"
        description = "Gzip member header at a non-zero offset of data that is not an archive"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        severity = "medium"
        score = 45
        category = "smuggling"
        version = 1
        scope = "tensor-data,member,small-file"
    strings:
        $gz = { 1F 8B 08 (00|08) ?? ?? ?? ?? (00|02|04) (00|03|07|0B|FF) }
    condition:
        $gz in (1..filesize)
        and not (uint32(0) == 0x04034B50)
        and not (uint16(0) == 0x8B1F)
        and not (filesize > 262 and uint32(257) == 0x61747375)
}
