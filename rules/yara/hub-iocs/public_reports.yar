// Indicators and layouts published for real malicious models found on public model hubs.

rule MAL_HubIOC_JFrog_Baller423_Reverse_Shell_Host
{
    meta:
        id = "MSY-HUB-001"
        description = "Reverse-shell host 210.117.212.93 of the baller423/goober2 PyTorch model reported by JFrog (Feb 2024)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://jfrog.com/blog/data-scientists-targeted-by-malicious-hugging-face-ml-models-with-silent-backdoor/"
        severity = "critical"
        score = 100
        category = "hub-iocs"
        version = 1
        scope = "pickle,code,config,metadata,header,member,small-file,tensor-data"
    strings:
        $ip = "210.117.212.93"
    condition:
        $ip
}

rule MAL_HubIOC_NullifAI_Payload_First_Pickle
{
    meta:
        id = "MSY-HUB-002"
        description = "Pickle whose very first import is a command/code execution callable (nullifAI layout: payload first, stream broken after)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face"
        severity = "critical"
        score = 95
        category = "hub-iocs"
        version = 1
        scope = "pickle,header,member,small-file"
    strings:
        $p2 = /\x80[\x02\x03]c((os|posix|nt)\n(system|popen)|subprocess\n\w{1,20}|(builtins|__builtin__)\n(eval|exec|compile|__import__)|runpy\n\w{1,30}|socket\n\w{1,20}|pty\n\w{1,10}|webbrowser\n\w{1,15})\n/
        $p4 = /\x80[\x04\x05](\x95[\x00-\xff]{8})?\x8c[\x02-\x0a]((os|posix|nt)\x94?\x8c[\x05\x06](system|popen)|subprocess\x94?\x8c.\w{1,20}|(builtins|__builtin__)\x94?\x8c.(eval|exec|compile|__import__)|runpy\x94?\x8c.\w{1,30}|socket\x94?\x8c.\w{1,20}|pty\x94?\x8c.\w{1,10}|webbrowser\x94?\x8c.\w{1,15})\x94?\x93/s
    condition:
        $p2 at 0 or $p4 at 0
}

rule MAL_HubIOC_Platform_Aware_Reverse_Shell
{
    meta:
        id = "MSY-HUB-003"
        description = "Platform-aware reverse shell (socket connect-back choosing cmd.exe/powershell or /bin/sh by OS), as in the JFrog and ReversingLabs reports"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face"
        severity = "critical"
        score = 95
        category = "hub-iocs"
        version = 1
        scope = "pickle,code,member,small-file"
    strings:
        $os_check = /(platform\.system\(\)|os\.name|sys\.platform)\s*(==|!=|\.startswith\()\s*\(?["'](Windows|nt|win32|win|Linux|posix|linux)["']/
        $win_shell = /(cmd\.exe|powershell(\.exe)?)/ nocase
        $posix_shell = /\/bin\/(ba|z|da)?sh/
        $connect = /\.connect\(\s*\(/
    condition:
        $os_check and $win_shell and $posix_shell and $connect
}
