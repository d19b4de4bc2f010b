"""`modelscreen inventory list|show|approve|revoke|pin|export`, `verify`, `diff`: provenance."""
from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import click

from modelscreen.provenance import (
    ApprovalRefused,
    InventoryError,
    PolicyError,
    default_backend,
    load_policy,
    open_inventory,
)
from modelscreen.provenance.behaviour_gate import behaviour_refusal
from modelscreen.provenance.bom import export_cyclonedx
from modelscreen.provenance.hf import (
    HubClient,
    HubError,
    check_file,
    file_sha256,
    parse_repo_ref,
    pin_repo,
    verify_directory,
)
from modelscreen.provenance.lineage import lineage_from_file
from modelscreen.provenance.signatures import verify_model
from modelscreen.provenance.tensors import diff_paths
from modelscreen.reporters.base import output_format
from modelscreen.sandbox import SandboxError, run_sandboxed
from modelscreen.sandbox.runner import command_limits, reason
from modelscreen.reporters.tables import findings_text, inventory_table, tensor_diff_table
from modelscreen.schemas.inventory import ArtifactIdentity
from modelscreen.settings import Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def _whoami() -> str:
    try:
        return Settings().user or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def backend_options(f):
    f = click.option("--index", default=None,
                     help="Elasticsearch index (default: $MODELSCREEN_INVENTORY_INDEX or modelscreen-inventory).")(f)
    f = click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                     help="YAML settings file (for the Elasticsearch backend).")(f)
    f = click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="SQLite database (default: $MODELSCREEN_DB or the findings database).")(f)
    f = click.option("--backend", type=click.Choice(["sqlite", "elasticsearch"]), default=None,
                     help="Inventory backend (default: $MODELSCREEN_INVENTORY_BACKEND or sqlite).")(f)
    return f


def _open(backend: str | None, db: Path | None, config: Path | None, index: str | None):
    settings = None
    if (backend or default_backend()).lower() == "elasticsearch":
        settings = load_settings(config)
    try:
        return open_inventory(backend, db=db, settings=settings, index=index, refresh_on_write=True)
    except Exception as exc:  # noqa: BLE001 - unreachable server, unwritable file
        raise click.ClickException(f"cannot open the inventory: {exc}") from None


def _identity(text: str):
    try:
        return ArtifactIdentity.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="IDENTITY") from None


def _sha(positional: str | None, option: str | None, *, required: bool = True) -> str | None:
    if positional and option and positional.lower() != option.lower():
        raise click.UsageError("SHA256 given twice with different values")
    value = (positional or option or "").strip().lower() or None
    if value is None:
        if required:
            raise click.UsageError("give the expected sha256 (SHA256 argument or --sha256)")
        return None
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise click.BadParameter(f"not a sha256: {value}", param_hint="SHA256")
    return value


@click.group()
def inventory() -> None:
    """The model inventory: what was seen where, approvals, pins, signatures; CycloneDX export."""


@inventory.command("list")
@backend_options
@click.option("--store", help="Store kind (s3, huggingface, ...).")
@click.option("--name", help="Artifact name (* wildcards).")
@click.option("--sha256", help="Content hash.")
@click.option("--pinned", is_flag=True, help="Only pinned records.")
@click.option("--approval", type=click.Choice(["none", "pending", "approved", "revoked"]), default=None)
@click.option("--limit", type=int, default=1000, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None)
def inventory_list(backend, db, config, index, store, name, sha256, pinned, approval, limit, fmt) -> None:
    """List inventory records, latest seen first."""
    with _open(backend, db, config, index) as inv:
        if hasattr(inv, "refresh"):
            inv.refresh()
        records = inv.search(store=store, name=name, sha256=sha256.lower() if sha256 else None,
                             pinned=True if pinned else None, approval=approval, limit=limit)
    if output_format(fmt) == "json":
        click.echo(json.dumps([r.model_dump(mode="json", exclude_none=True) for r in records], indent=2))
    else:
        click.echo(inventory_table(records), nl=False)


@inventory.command("show")
@backend_options
@click.argument("identity")
@click.argument("sha256", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="json", show_default=True)
def inventory_show(backend, db, config, index, identity, sha256, fmt) -> None:
    """Everything recorded about IDENTITY (all its bytes, or only SHA256); IDENTITY may be a record id."""
    sha = _sha(sha256, None, required=False)
    with _open(backend, db, config, index) as inv:
        rec = inv.get(identity) if len(identity) == 40 and all(c in "0123456789abcdef" for c in identity) else None
        records = [rec] if rec else inv.find(_identity(identity), sha)
        if not records:
            click.echo(f"no inventory record of {identity}" + (f" with sha256 {sha}" if sha else ""), err=True)
            sys.exit(EXIT_FAILED)
        out = []
        for r in records:
            doc = r.model_dump(mode="json", exclude_none=True)
            if r.sha256 and r.manifest:
                m = inv.get_manifest(r.sha256)
                doc["tensors"] = len(m.tensors) if m else None
            out.append(doc)
    if fmt == "json":
        click.echo(json.dumps(out if len(out) > 1 else out[0], indent=2))
    else:
        click.echo(inventory_table(records), nl=False)
        for r in records:
            for a in r.approvals:
                click.echo(f"  {a.at:%Y-%m-%d %H:%M} {a.status.value:<8} by {a.by}"
                           + (" (FORCED)" if a.forced else "") + (f": {a.reason}" if a.reason else ""))


def _annotation(base_model, datasets, model_config):
    base, ds = base_model, list(datasets)
    if model_config is not None:
        found_base, found_ds = lineage_from_file(model_config)
        base = base or found_base
        ds += [d for d in found_ds if d not in ds]
    return base, ds


@inventory.command("approve")
@backend_options
@click.argument("identity")
@click.argument("sha256", required=False)
@click.option("--sha256", "sha_opt", help="Expected sha256 (instead of the SHA256 argument).")
@click.option("--by", default=None, help="Who approves (default: $MODELSCREEN_USER or the login name).")
@click.option("--reason", default="", help="Why (required with --force).")
@click.option("--force", is_flag=True, help="Approve although the latest verdict is malicious (recorded).")
@click.option("--base-model", help="Record the model it was derived from.")
@click.option("--dataset", "datasets", multiple=True, help="Record a training dataset (repeatable).")
@click.option("--model-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="config.json or README.md (model card) to read base_model and datasets from.")
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Provenance policy (default: $MODELSCREEN_PROVENANCE_POLICY); may require a behaviour baseline.")
def inventory_approve(backend, db, config, index, identity, sha256, sha_opt, by, reason, force, base_model,
                      datasets, model_config, policy) -> None:
    """Approve the bytes SHA256 for IDENTITY. Exit 1 when refused (latest verdict malicious, no --force; or
    the policy's behaviour gate not met)."""
    ident, sha = _identity(identity), _sha(sha256, sha_opt)
    base, ds = _annotation(base_model, datasets, model_config)
    try:
        requirements = load_policy(policy).for_artifact(ident.store, ident.store_name, ident.name or ident.uri or "")
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    with _open(backend, db, config, index) as inv:
        refusal = behaviour_refusal(inv, ident, sha, requirements)
        if refusal:
            click.echo(f"refused: {refusal}", err=True)
            sys.exit(EXIT_FAILED)
        try:
            rec = inv.approve(ident, sha, by=by or _whoami(), reason=reason, force=force)
        except ApprovalRefused as exc:
            click.echo(f"refused: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        if base or ds:
            rec = inv.annotate(ident, sha, base_model=base, datasets=ds)
    click.echo(json.dumps({"approved": rec.identity, "sha256": rec.sha256, "forced": rec.approvals[-1].forced,
                           "by": rec.approvals[-1].by, "id": rec.id}))


@inventory.command("revoke")
@backend_options
@click.argument("identity")
@click.argument("sha256", required=False)
@click.option("--sha256", "sha_opt", help="Only these bytes (default: every approved or pending record).")
@click.option("--by", default=None)
@click.option("--reason", required=True, help="Why the approval is revoked.")
def inventory_revoke(backend, db, config, index, identity, sha256, sha_opt, by, reason) -> None:
    """Revoke the approval of IDENTITY (or of its bytes SHA256)."""
    ident, sha = _identity(identity), _sha(sha256, sha_opt, required=False)
    with _open(backend, db, config, index) as inv:
        try:
            recs = inv.revoke(ident, sha, by=by or _whoami(), reason=reason)
        except InventoryError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_FAILED)
    click.echo(json.dumps({"revoked": [{"identity": r.identity, "sha256": r.sha256, "id": r.id} for r in recs]}))


@inventory.command("pin")
@backend_options
@click.argument("identity")
@click.argument("sha256", required=False)
@click.option("--sha256", "sha_opt", help="Expected sha256 (instead of the SHA256 argument).")
@click.option("--by", default=None)
@click.option("--reason", default="")
@click.option("--force", is_flag=True, help="Pin although the latest verdict is malicious (recorded).")
@click.option("--remove", is_flag=True, help="Unpin IDENTITY.")
@click.option("--hf", "hf", is_flag=True,
              help="IDENTITY is a Hugging Face REPO@COMMIT: pin every file at the Hub's digests.")
@click.option("--endpoint", default=None, help="Hugging Face endpoint (default: $HF_ENDPOINT or the public Hub).")
def inventory_pin(backend, db, config, index, identity, sha256, sha_opt, by, reason, force, remove, hf,
                  endpoint) -> None:
    """Pin IDENTITY to the bytes SHA256: other bytes under it are then a critical finding."""
    with _open(backend, db, config, index) as inv:
        try:
            if hf:
                try:
                    repo, commit = parse_repo_ref(identity)
                    recs = pin_repo(inv, repo, commit, client=HubClient(endpoint), by=by or _whoami(),
                                    reason=reason, force=force)
                except ValueError as exc:
                    raise click.BadParameter(str(exc), param_hint="IDENTITY") from None
                except HubError as exc:
                    raise click.ClickException(str(exc)) from None
                click.echo(json.dumps({"pinned": [{"identity": r.identity, "sha256": r.sha256,
                                                   "digests": r.digests} for r in recs]}))
                return
            ident = _identity(identity)
            if remove:
                recs = inv.unpin(ident)
                click.echo(json.dumps({"unpinned": [{"identity": r.identity, "sha256": r.sha256} for r in recs]}))
                return
            rec = inv.pin(ident, _sha(sha256, sha_opt), by=by or _whoami(), reason=reason, force=force)
        except ApprovalRefused as exc:
            click.echo(f"refused: {exc}", err=True)
            sys.exit(EXIT_FAILED)
    click.echo(json.dumps({"pinned": rec.identity, "sha256": rec.sha256, "id": rec.id}))


@inventory.command("export")
@backend_options
@click.option("--format", "fmt", type=click.Choice(["cyclonedx"]), default="cyclonedx", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None)
@click.option("--store", help="Only this store kind.")
@click.option("--name", help="Only these names (* wildcards).")
def inventory_export(backend, db, config, index, fmt, output, store, name) -> None:
    """Export the inventory as a CycloneDX 1.6 ML-BOM (JSON)."""
    with _open(backend, db, config, index) as inv:
        if hasattr(inv, "refresh"):
            inv.refresh()
        records = inv.search(store=store, name=name, limit=10000)
    text = export_cyclonedx(records)
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--signature", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="OpenSSF model signing bundle (e.g. model.sig).")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM public key (ECDSA P-256/384/521).")
@click.option("--certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Expected signing certificate (PEM); it must chain to --chain (or be self-signed).")
@click.option("--chain", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CA certificates (PEM) the signing certificate must chain to.")
@click.option("--sigstore-identity", default=None, help="Expected Sigstore signer identity (keyless).")
@click.option("--sigstore-issuer", default=None, help="Expected OIDC issuer (keyless).")
@click.option("--trust-config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Sigstore trust: a ClientTrustConfig or a trusted root JSON; keyless "
                   "verification is offline only.")
@click.option("--allowed-signer", "allowed", multiple=True,
              help="Accepted signer (fnmatch on key:sha256:<hex> / cert:<subject> / sigstore:<identity>).")
@click.option("--hf", "hf_ref", default=None,
              help="Check PATH (a snapshot directory) against Hugging Face REPO@COMMIT instead of a signature.")
@click.option("--endpoint", default=None, help="Hugging Face endpoint for --hf.")
@click.option("--record", "record_identity", default=None,
              help="Record the signature status and signer in the inventory under this identity.")
@backend_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None)
def verify(path, signature, public_key, certificate, chain, sigstore_identity, sigstore_issuer, trust_config,
           allowed, hf_ref, endpoint, record_identity, backend, db, config, index, fmt) -> None:
    """Verify a model file or directory against its signature (or a Hugging Face commit).

    Exit status: 0 verified, 1 verification failed (the reasons are findings), 2 usage or errors.
    """
    fmt = output_format(fmt)
    if hf_ref:
        if signature or public_key or certificate or chain or sigstore_identity:
            raise click.UsageError("--hf checks digests against the Hub: do not combine it with signature options")
        _verify_hf(path, hf_ref, endpoint, fmt)
        return
    if signature is None:
        raise click.UsageError("--signature is required (or --hf REPO@COMMIT)")

    try:  # the bundle and the model are parsed in a sandboxed child
        check = run_sandboxed(verify_model, path, signature, public_key=public_key, certificate=certificate,
                              chain=chain, sigstore_identity=sigstore_identity, sigstore_issuer=sigstore_issuer,
                              trust_config=trust_config, allowed_signers=list(allowed) or None,
                              limits=command_limits())
    except SandboxError as exc:
        click.echo(f"error: {reason(exc)}", err=True)
        sys.exit(EXIT_ERROR)
    if record_identity:
        _record_signature(path, check, _identity(record_identity), backend, db, config, index)
    if fmt == "json":
        click.echo(json.dumps(check.to_json(), indent=2))
    else:
        state = "VERIFIED" if check.verified else "FAILED"
        click.echo(findings_text(check.findings, f"{state}: {path} ({check.method}, signer "
                                                    f"{check.signer or 'unknown'}, {check.files} signed files)"),
                   nl=False)
    sys.exit(EXIT_OK if check.verified else EXIT_FAILED)


def _record_signature(path: Path, check, ident, backend, db, config, index) -> None:
    info = check.info()
    with _open(backend, db, config, index) as inv:
        if path.is_file():
            inv.set_signature(ident, file_sha256(path), info)
            return
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            rel = f.relative_to(path).as_posix()
            if rel.startswith(".git/") or f.resolve() == Path(check.bundle or "").resolve():
                continue
            sub = ident.model_copy(update={"path": f"{ident.path}/{rel}" if ident.path else rel})
            inv.set_signature(sub, file_sha256(f), info)


def _verify_hf(path: Path, ref: str, endpoint: str | None, fmt: str) -> None:
    try:
        repo, revision = parse_repo_ref(ref)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--hf") from None
    try:
        client = HubClient(endpoint)
        if path.is_dir():
            findings = verify_directory(path, client.files(repo, revision))
        else:
            found = client.paths_info(repo, revision, [path.name])
            if path.name not in found:
                click.echo(f"error: {path.name} is not a file of {repo}@{revision}", err=True)
                sys.exit(EXIT_ERROR)
            findings = check_file(path, found[path.name])
    except HubError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    if fmt == "json":
        click.echo(json.dumps({"verified": not findings, "repo": repo, "revision": revision,
                               "findings": [f.model_dump(mode="json", exclude_none=True) for f in findings]},
                              indent=2))
    else:
        click.echo(findings_text(findings, f"{'VERIFIED' if not findings else 'FAILED'}: {path} against "
                                              f"{repo}@{revision}"), nl=False)
    sys.exit(EXIT_OK if not findings else EXIT_FAILED)


@click.command()
@click.argument("old", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None)
def diff(old: Path, new: Path, fmt: str | None) -> None:
    """Tensors changed, added and removed (and dtype/shape changes) between two safetensors files or directories.

    Exit status: 0 identical, 1 differences, 2 errors.
    """
    try:  # the headers are parsed in a sandboxed child
        diffs = run_sandboxed(diff_paths, old, new, limits=command_limits())
    except SandboxError as exc:
        if exc.exc_type in ("ValueError", "ManifestError"):
            raise click.UsageError(reason(exc)) from None
        click.echo(f"error: {reason(exc)}", err=True)
        sys.exit(EXIT_ERROR)
    fmt = output_format(fmt)
    if fmt == "json":
        click.echo(json.dumps({"old": str(old), "new": str(new), "files": [d.to_json() for d in diffs]}, indent=2))
    else:
        click.echo(tensor_diff_table(diffs), nl=False)
    if any(d.status == "error" for d in diffs):
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FAILED if any(d.status != "same" for d in diffs) else EXIT_OK)
