// Network indicators in model metadata, configs and cards: endpoints a model has no reason to name.
// Low severity: worth a look, not a verdict on their own. Ordinary https links stay silent.

rule SUSP_Metadata_Raw_IP_URL
{
    meta:
        id = "MSY-META-001"
        description = "URL with a raw public IPv4 host (loopback and 0.0.0.0 excluded)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1071/001/"
        severity = "low"
        score = 25
        category = "metadata"
        version = 1
        scope = "metadata,config,header,member,small-file"
    strings:
        $ip_url = /(https?|ftp|tcp|wss?):\/\/([1-9]|[1-9][0-9]|1[013-9][0-9]|12[0-689]|2[0-4][0-9]|25[0-5])\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(:[0-9]{1,5})?[\/"'\s]/ nocase
    condition:
        $ip_url
}

rule SUSP_Metadata_Tunnel_Service_Host
{
    meta:
        id = "MSY-META-002"
        description = "Tunnelling-service host (ngrok, trycloudflare, serveo, localtunnel) used as a callback endpoint"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1572/"
        severity = "low"
        score = 35
        category = "metadata"
        version = 1
        scope = "metadata,config,header,code,pickle,member,small-file"
    strings:
        $tunnel = /[a-z0-9][a-z0-9\-]{3,62}\.(ngrok\.io|ngrok-free\.app|ngrok\.app|ngrok-free\.dev|trycloudflare\.com|serveo\.net|loca\.lt)\b/ nocase
        $ngrok_tcp = /tcp:\/\/[0-9]\.tcp\.([a-z]{2}\.)?ngrok\.io:[0-9]{2,5}/ nocase
    condition:
        any of them
}

rule SUSP_Metadata_Paste_Site_Raw
{
    meta:
        id = "MSY-META-003"
        description = "Raw paste-site URL (pastebin /raw/, paste.ee /r/, rentry raw, hastebin raw): a common stage-two host"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1102/"
        severity = "low"
        score = 35
        category = "metadata"
        version = 1
        scope = "metadata,config,header,code,pickle,member,small-file"
    strings:
        $pastebin = /pastebin\.com\/raw\/[A-Za-z0-9]{6,12}/ nocase
        $pasteee = /paste\.ee\/r\/[A-Za-z0-9]{4,12}/ nocase
        $rentry = /rentry\.(co|org)\/[A-Za-z0-9_\-]{3,40}\/raw/ nocase
        $hastebin = /hastebin\.com\/raw\/[a-z]{6,16}/ nocase
    condition:
        any of them
}

rule SUSP_Metadata_Discord_Webhook
{
    meta:
        id = "MSY-META-004"
        description = "Discord webhook URL with its token (write-only exfiltration channel)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1567/004/"
        severity = "low"
        score = 38
        category = "metadata"
        version = 1
        scope = "metadata,config,header,code,pickle,member,small-file"
    strings:
        $hook = /discord(app)?\.com\/api\/webhooks\/[0-9]{15,20}\/[A-Za-z0-9_\-]{60,80}/ nocase
    condition:
        $hook
}

rule SUSP_Metadata_Telegram_Bot_API
{
    meta:
        id = "MSY-META-005"
        description = "Telegram Bot API URL with a bot token (exfiltration and command channel)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1102/002/"
        severity = "low"
        score = 38
        category = "metadata"
        version = 1
        scope = "metadata,config,header,code,pickle,member,small-file"
    strings:
        $bot = /api\.telegram\.org\/bot[0-9]{6,12}:[A-Za-z0-9_\-]{30,40}/ nocase
    condition:
        $bot
}

rule INFO_Metadata_Dynamic_DNS_Host
{
    meta:
        id = "MSY-META-006"
        description = "Dynamic-DNS host (duckdns, no-ip, ddns.net, hopto) named in model files"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1568/"
        severity = "info"
        score = 15
        category = "metadata"
        version = 1
        scope = "metadata,config,header,code,pickle,member,small-file"
    strings:
        $ddns = /[a-z0-9][a-z0-9\-]{1,62}\.(duckdns\.org|no-ip\.(org|biz|info)|ddns\.net|hopto\.org|zapto\.org|sytes\.net)\b/ nocase
    condition:
        $ddns
}
