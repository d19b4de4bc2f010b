// Credential theft from the machine that loads a model: cloud keys, SSH keys, browser stores, hub
// tokens, environment dumps, each combined with a read or send so that documentation stays silent.

rule MAL_Stealer_Cloud_Credential_Files
{
    meta:
        id = "MSY-STL-001"
        description = "Reads cloud credential files (~/.aws/credentials, gcloud, azure, kube, docker) and sends data out"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1552/001/"
        severity = "high"
        score = 80
        category = "stealer"
        version = 1
        scope = "code,pickle,config,member,small-file"
    strings:
        $aws = ".aws/credentials"
        $gcloud1 = "application_default_credentials.json"
        $gcloud2 = ".config/gcloud/credentials.db"
        $azure = ".azure/accessTokens.json"
        $kube = ".kube/config"
        $docker = ".docker/config.json"
        $send1 = "requests.post("
        $send2 = "urlopen("
        $send3 = /curl\s[^\n]{0,80}(-d|--data|-F|--upload-file|-T)\s/
        $send4 = "socket.socket("
        $send5 = /discord(app)?\.com\/api\/webhooks\//
    condition:
        (2 of ($aws, $gcloud*, $azure, $kube, $docker)) or (any of ($aws, $gcloud*, $azure, $kube, $docker) and any of ($send*))
}

rule MAL_Stealer_SSH_Keys_And_Shadow
{
    meta:
        id = "MSY-STL-002"
        description = "Reads SSH private keys or /etc/shadow (open(), cat, base64) or plants authorized_keys"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1552/004/"
        severity = "high"
        score = 80
        category = "stealer"
        version = 1
        scope = "code,pickle,config,member,small-file"
    strings:
        $read_key = /(open\(|cat\s|base64\s|read_text\(|scp\s)[^\n]{0,60}(\.ssh\/id_(rsa|dsa|ecdsa|ed25519)|\/etc\/shadow)/
        $plant = />>\s*[~\w\/.]{0,40}\.ssh\/authorized_keys/
    condition:
        any of them
}

rule MAL_Stealer_Browser_Credential_Store
{
    meta:
        id = "MSY-STL-003"
        description = "Accesses browser credential stores (Chromium Login Data + Local State, Firefox logins.json + key4.db)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1555/003/"
        severity = "high"
        score = 85
        category = "stealer"
        version = 1
        scope = "code,pickle,config,member,small-file"
    strings:
        $login_data = "Login Data"
        $local_state = "Local State"
        $chromium = /(Google[\\\/]Chrome|Chromium|Microsoft[\\\/]Edge|BraveSoftware)/
        $ff_logins = "logins.json"
        $ff_key = "key4.db"
    condition:
        ($login_data and $local_state and $chromium) or ($ff_logins and $ff_key)
}

rule MAL_Stealer_Hub_Token_Exfiltration
{
    meta:
        id = "MSY-STL-004"
        description = "Sends a Hugging Face token out (HF_TOKEN in a request body, token file read and posted, token to a webhook/bot)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1552/001/"
        severity = "high"
        score = 85
        category = "stealer"
        version = 1
        scope = "code,pickle,config,member,small-file"
    strings:
        // an Authorization header carrying HF_TOKEN is how the hub API is called: not matched
        $body = /\b(json|data|params)\s*=\s*[\{\(\[]?[^\n]{0,80}\b(HF_TOKEN|HUGGING_FACE_HUB_TOKEN)\b/
        $tokfile = /\.cache\/huggingface\/token\b|\.huggingface\/token\b/
        $tokenv = /\b(HF_TOKEN|HUGGING_FACE_HUB_TOKEN)\b/
        $send1 = "requests.post("
        $send2 = "urlopen("
        $send3 = /curl\s[^\n]{0,80}(-d|--data|-F)\s/
        $chan1 = /discord(app)?\.com\/api\/webhooks\//
        $chan2 = /api\.telegram\.org\/bot/
    condition:
        $body or ($tokfile and any of ($send*, $chan*)) or ($tokenv and any of ($chan*))
}

rule MAL_Stealer_Environment_Dump_Exfiltration
{
    meta:
        id = "MSY-STL-005"
        description = "Dumps the whole environment (AWS_SECRET_ACCESS_KEY and friends) and sends it out"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1552/001/"
        severity = "high"
        score = 80
        category = "stealer"
        version = 1
        scope = "code,pickle,config,member,small-file"
    strings:
        $dump1 = /(dict|str|json\.dumps)\(\s*(dict\()?os\.environ\)?\s*\)/
        $dump2 = "os.environ.copy()"
        $aws_secret = /os\.(environ(\.get)?\s*[\[(]\s*|getenv\(\s*)["']AWS_SECRET_ACCESS_KEY["']/
        $send1 = "requests.post("
        $send2 = "urlopen("
        $send3 = /curl\s[^\n]{0,80}(-d|--data|-F)\s/
        $send4 = /discord(app)?\.com\/api\/webhooks\//
    condition:
        any of ($dump*, $aws_secret) and any of ($send*)
}
