"""``studio vault verify [--repair]``: re-hash every object; ``studio vault gc [--yes]``:
remove what nothing references (studio_kit.surfaces.asset_vault)."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app, console

vault_app = typer.Typer(help="The asset vault: integrity checks and repair.",
                        no_args_is_help=True)
app.add_typer(vault_app, name="vault")

VAULT_URL_HELP = ("The vault's object store, e.g. s3://bucket/series (default: "
                  "STUDIO_VAULT_URL; credentials from the environment): checked / collected "
                  "there too, beside this machine's cache")


def _vault(project: Path, vault_url: str | None):
    """The project's vault, on ``vault_url`` (else ``STUDIO_VAULT_URL``) if given."""
    import os

    from ..project.series_folder import Project
    from ..store.vault import Vault

    root = Project.load(project, check_references=False).studio_dir / "vault"
    if vault_url is not None:
        os.environ["STUDIO_VAULT_URL"] = vault_url  # the project's vault() calls agree
    return Vault(root, remote=vault_url)


def _bucket_gc(proj, vault, *, yes: bool, include_paid_unused: bool, project: Path) -> None:
    """The bucket's part of ``studio vault gc`` (scale.bucket): a dry run lists, --yes
    deletes; the local cache is collected after it, as without a bucket."""
    from ..scale.bucket import plan_bucket_gc, run_bucket_gc

    if not yes:
        plan = plan_bucket_gc(proj, vault.remote, include_paid_unused=include_paid_unused,
                              vault=vault)
        for digest, size in sorted(plan.objects.items()):
            console.print(f"  would remove {digest[:16]}  {size:>12,d} B from the bucket",
                          highlight=False)
        for rec in plan.records:
            console.print(f"  would remove record {rec} from the bucket", highlight=False)
        if plan.resumed:
            console.print("an interrupted gc left its journal in the bucket: --yes "
                          "completes it", highlight=False)
        console.print(f"dry run, {plan.url}: {len(plan.objects)} objects "
                      f"({plan.bytes / 1e6:.2f} MB), {len(plan.records)} stage records and "
                      f"{len(plan.uploads)} stale uploads would be removed; "
                      f"{len(plan.kept_paid)} paid unused takes kept", highlight=False)
        return
    plan = run_bucket_gc(proj, vault.remote, include_paid_unused=include_paid_unused,
                         vault=vault, progress=lambda line: print(f"removed {line} from "
                                                                  "the bucket", flush=True))
    console.print(f"{plan.url}: removed {len(plan.objects)} objects "
                  f"({plan.bytes / 1e6:.2f} MB), {len(plan.records)} stage records and "
                  f"{len(plan.uploads)} stale uploads; {len(plan.kept_paid)} paid unused "
                  "takes kept", highlight=False)


@vault_app.command("verify")
def verify_cmd(
    project: Path = typer.Argument(Path("."), help="Series folder"),
    repair: bool = typer.Option(False, "--repair",
                                help="Quarantine corrupt objects and drop stage records whose "
                                     "outputs are gone (the next render re-makes them; paid "
                                     "takes are re-fetched by their remote job id)"),
    vault_url: str = typer.Option(None, "--vault-url", help=VAULT_URL_HELP),
) -> None:
    """Re-hash every object in the vault (a progress bar) and report what is damaged."""
    import time

    from rich.progress import Progress

    from ..errors import VaultError

    vault = _vault(project, vault_url)
    sizes = [size for _d, _p, size in vault.iter_objects()]
    t0 = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("verifying", total=len(sizes))
        report = vault.verify(lambda n: bar.advance(task, n), repair=repair)
    seconds = max(time.perf_counter() - t0, 1e-9)
    where = "the local cache: " if vault.remote is not None else ""
    console.print(f"{where}checked {report.checked} objects ({sum(sizes) / 1e6:.1f} MB, "
                  f"{sum(sizes) / 1e6 / seconds:.0f} MB/s): {len(report.corrupt)} corrupt, "
                  f"{len(report.missing)} stage outputs missing", highlight=False)
    for d in report.corrupt:
        console.print(f"  corrupt {d[:16]}" + (" (quarantined)" if repair else ""),
                      highlight=False)
    corrupt, missing = len(report.corrupt), len(report.missing)
    if vault.remote is not None:  # the bucket itself: every object re-hashed there
        from ..scale.bucket import verify_bucket
        from ..store.objectstore import iter_remote_objects

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("verifying the bucket",
                                total=len(iter_remote_objects(vault.remote)))
            remote = verify_bucket(vault.remote, lambda n: bar.advance(task, n),
                                   repair=repair)
        console.print(f"{remote.url}: checked {remote.checked} objects "
                      f"({remote.bytes / 1e6:.1f} MB, "
                      f"{remote.bytes / 1e6 / max(remote.seconds, 1e-9):.0f} MB/s): "
                      f"{len(remote.corrupt)} corrupt, {len(remote.missing)} stage outputs "
                      "missing", highlight=False)
        for d in remote.corrupt:
            console.print(f"  corrupt {d[:16]} in the bucket" +
                          (" (moved to quarantine/)" if repair else ""), highlight=False)
        corrupt, missing = corrupt + len(remote.corrupt), missing + len(remote.missing)
    if (corrupt or missing) and not repair:
        raise VaultError(f"the vault has {corrupt} corrupt objects and "
                         f"{missing} missing stage outputs", file=vault.root,
                         hint=f"run 'studio vault verify {project} --repair', then render "
                              "again to re-make them")


@vault_app.command("gc")
def gc_cmd(
    project: Path = typer.Argument(Path("."), help="Series folder"),
    yes: bool = typer.Option(False, "--yes", help="Delete (without it: a dry run listing "
                                                  "what would go, with sizes)"),
    include_paid_unused: bool = typer.Option(
        False, "--include-paid-unused",
        help="Also remove paid takes that no episode uses (a paid take a kept episode uses "
             "is never removed)"),
    vault_url: str = typer.Option(None, "--vault-url", help=VAULT_URL_HELP),
) -> None:
    """Remove vault objects nothing references (dry run unless --yes; crash-safe)."""
    import sys

    from ..project.series_folder import Project
    from ..surfaces.asset_vault import plan_gc, run_gc

    proj = Project.load(project, check_references=False)
    vault = _vault(project, vault_url)
    if vault.remote is not None:
        _bucket_gc(proj, vault, yes=yes, include_paid_unused=include_paid_unused,
                   project=project)
    if not yes:
        plan = plan_gc(proj, include_paid_unused=include_paid_unused)
        for digest, size in sorted(plan.objects.items()):
            console.print(f"  would remove {digest[:16]}  {size:>12,d} B", highlight=False)
        for rec in plan.records:
            console.print(f"  would remove record {rec}", highlight=False)
        if plan.resumed:
            console.print("an interrupted gc left its journal: --yes completes it",
                          highlight=False)
        console.print(f"dry run: {len(plan.objects)} objects ({plan.bytes / 1e6:.2f} MB) and "
                      f"{len(plan.records)} stage records would be removed; "
                      f"{len(plan.kept_paid)} paid unused takes kept; "
                      f"run 'studio vault gc {project} --yes' to delete", highlight=False)
        return

    def say(line: str) -> None:
        print(f"removed {line}", flush=True)
        sys.stdout.flush()

    plan = run_gc(proj, include_paid_unused=include_paid_unused, progress=say)
    console.print(f"removed {len(plan.objects)} objects ({plan.bytes / 1e6:.2f} MB) and "
                  f"{len(plan.records)} stage records; {len(plan.kept_paid)} paid unused takes "
                  "kept", highlight=False)
