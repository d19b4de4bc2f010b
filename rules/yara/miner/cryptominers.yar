// Cryptocurrency miners dropped or configured by a model payload (resource hijacking).

rule MAL_Miner_Stratum_Pool_URL
{
    meta:
        id = "MSY-MIN-001"
        description = "Stratum mining-pool URL (stratum+tcp://, stratum+ssl://)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1496/"
        severity = "high"
        score = 80
        category = "miner"
        version = 1
        scope = "code,config,pickle,metadata,member,small-file,tensor-data"
    strings:
        $stratum = /stratum(\+|2\+)(tcp|ssl|tls):\/\/[A-Za-z0-9.\-]{3,253}:[0-9]{2,5}/ nocase
    condition:
        $stratum
}

rule MAL_Miner_XMRig_Configuration
{
    meta:
        id = "MSY-MIN-002"
        description = "XMRig miner invocation or config (xmrig with --donate-level, pools, rx/0 or cryptonight)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1496/"
        severity = "high"
        score = 80
        category = "miner"
        version = 1
        scope = "code,config,pickle,metadata,member,small-file"
    strings:
        $xmrig = "xmrig" nocase
        $donate = /--?donate-level[= ]+[0-9]/ nocase
        $donate_json = /"donate-level"\s*:\s*[0-9]/
        $pools = /"pools"\s*:\s*\[/
        $algo = /(rx\/0|cn\/r|cryptonight|randomx)/ nocase
    condition:
        $xmrig and ($donate or $donate_json or ($pools and $algo))
}

rule SUSP_Miner_Monero_Wallet_Argument
{
    meta:
        id = "MSY-MIN-003"
        description = "Monero wallet address passed as a miner user/wallet argument"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1496/"
        severity = "medium"
        score = 60
        category = "miner"
        version = 1
        scope = "code,config,pickle,metadata,member,small-file"
    strings:
        $wallet = /(-u|--user|"user"|wallet|WALLET)["'=:\s]{1,4}4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}/
    condition:
        $wallet
}

rule MAL_Miner_Known_Pool_Hosts
{
    meta:
        id = "MSY-MIN-004"
        description = "Well-known Monero mining-pool host names"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1496/"
        severity = "high"
        score = 75
        category = "miner"
        version = 1
        scope = "code,config,pickle,metadata,member,small-file"
    strings:
        $pool = /(pool\.minexmr\.com|xmrpool\.eu|supportxmr\.com|xmr\.nanopool\.org|moneroocean\.stream|xmr\.2miners\.com|xmr\.f2pool\.com|hashvault\.pro|c3pool\.com|pool\.hashvault\.pro)/ nocase
    condition:
        $pool
}
