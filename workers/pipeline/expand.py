"""Events that name a whole multi-file artifact -> one event per file.

A Hugging Face Hub event names a repository at a commit (`hf://models/<repo>@<commit>`). The Hub's tree API
lists its files with their digests (sha256 for LFS files, the git blob sha1 for the rest); each file becomes
an event of its own (`hf://models/<repo>@<commit>/<path>`, `path` set, the Hub's digests as the expected
ones), fetched, scanned and checked against pins one by one. Everything else names one file already.
"""
from __future__ import annotations

from schemas.events import ArtifactEvent
from workers.fetch import FetchError
from workers.fetch.hf import DEFAULT_ENDPOINT, parse
from workers.settings import Settings


def is_multi_file(event: ArtifactEvent) -> bool:
    return event.uri.startswith("hf://") and event.path is None and "/" not in event.uri.partition("@")[2]


def expand(event: ArtifactEvent, settings: Settings, *, getter=None) -> list[ArtifactEvent]:
    """One event per file of the repository the event names. Raises FetchError (transient when the Hub is
    unreachable or overloaded; permanent for an unknown repository or revision, or too many files)."""
    from workers.provenance.hf import HubClient, HubError, ignored

    ref = parse(event.uri)
    if not ref.revision:
        raise FetchError(f"{event.uri} names no commit: nothing to pin the files to", transient=False)
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    client = HubClient(settings.hf_endpoint or DEFAULT_ENDPOINT, getter=getter, token=token or "")
    try:
        files = client.files(ref.repo, ref.revision, repo_type=ref.repo_type)
    except HubError as exc:
        raise FetchError(f"listing {event.uri}: {exc}", transient=exc.transient) from None
    files = {p: f for p, f in files.items() if not ignored(p)}
    if len(files) > settings.hf_max_files:
        raise FetchError(f"{event.uri} lists {len(files)} files, more than hf_max_files={settings.hf_max_files}",
                         transient=False)
    base = event.model_dump(exclude={"event_id", "uri", "path", "expected_sha256", "expected_digests", "size"})
    return [
        ArtifactEvent(**base, uri=ref.file_uri(path), path=path, expected_sha256=f.sha256,
                      expected_digests={"git-sha1": f.git_sha1} if f.git_sha1 else {}, size=f.size)
        for path, f in sorted(files.items())
    ]
