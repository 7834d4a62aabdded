"""``gc k8s manifests`` and ``gc build-image``, added through ``gascity.cli``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from gascity import hookimpl
from gascity.plugins import PluginContext

__all__ = ["K8sCli", "build_image", "k8s_group"]


@click.group("k8s")
def k8s_group() -> None:
    """Kubernetes deployment helpers."""


@k8s_group.command("manifests")
@click.option(
    "--namespace", "-n", default="gc", show_default=True, help="Namespace to deploy into."
)
@click.option(
    "--image", default=None, help="Controller and agent image (default: the published one)."
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one file per object (and city.toml.example) here instead of stdout.",
)
def manifests_cmd(namespace: str, image: str | None, out: Path | None) -> None:
    """Render the deployment: namespace, RBAC, controller, Dolt, PostgreSQL, prune CronJob."""
    import yaml  # type: ignore[import-untyped]

    from .manifests import API_PORT, DEFAULT_IMAGE, EXAMPLE_CITY, render

    objects = render(namespace, image or DEFAULT_IMAGE)
    if out is None:
        sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
        return
    out.mkdir(parents=True, exist_ok=True)
    for index, obj in enumerate(objects):
        name = f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        (out / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    (out / "city.toml.example").write_text(
        EXAMPLE_CITY.format(namespace=namespace, image=image or DEFAULT_IMAGE, api_port=API_PORT)
    )
    click.echo(f"wrote {len(objects)} manifests and city.toml.example to {out}")
    click.echo(
        f"create the secrets first: kubectl -n {namespace} create secret generic gc-dolt "
        "--from-literal=password=...; likewise gc-postgres (password, dsn)"
    )


def _city(ctx: click.Context) -> tuple[Path, str]:
    from gascity.config import load_city

    state: Any = ctx.find_root().obj
    if state is None or not hasattr(state, "city_dir"):
        raise click.ClickException("gc build-image must run under gc")
    city_dir: Path = state.city_dir()
    return city_dir, load_city(city_dir).city_name


@click.command("build-image")
@click.option("--tag", "-t", default=None, help="Image tag (default: gascity-<city>:latest).")
@click.option(
    "--context-only",
    "context_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the build context (Dockerfile + city) to DIR and stop.",
)
@click.option("--push", is_flag=True, help="Push the image after building it.")
@click.option("--base", default=None, help="Base image holding tmux and the agent CLIs.")
@click.pass_context
def build_image(
    ctx: click.Context, tag: str | None, context_dir: Path | None, push: bool, base: str | None
) -> None:
    """Bake the city into an agent image, so pods start without staging (prebaked = true)."""
    from .buildimage import EngineMissing, build, default_tag, write_context
    from .manifests import DEFAULT_IMAGE

    city_dir, city = _city(ctx)
    tag = tag or default_tag(city)
    if context_dir is not None:
        files = write_context(city_dir, city, context_dir, base or DEFAULT_IMAGE)
        click.echo(f"wrote build context ({len(files)} city files) to {context_dir}")
        click.echo(f"build it with: docker build -t {tag} {context_dir}")
        return
    with tempfile.TemporaryDirectory(prefix="gc-build-") as tmp:
        write_context(city_dir, city, Path(tmp), base or DEFAULT_IMAGE)
        try:
            build(Path(tmp), tag, push)
        except EngineMissing as exc:
            raise click.ClickException(
                f"cannot build the image: {exc}. Start a Docker engine, or write the build context "
                "with --context-only DIR and build it elsewhere (docker, buildah, kaniko)."
            ) from None
    click.echo(
        f'built {tag}{" and pushed it" if push else ""}; set [session.k8s] image = "{tag}" '
        "and prebaked = true"
    )


class K8sCli:
    """Entry point ``k8s`` in ``gascity.cli``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @hookimpl
    def cli_commands(self, group: click.Group) -> None:
        group.add_command(k8s_group)
        group.add_command(build_image)
