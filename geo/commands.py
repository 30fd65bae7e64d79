"""Command-line commands contributed by the `geo` package (registered by `cityscreen.cli`)."""

from __future__ import annotations

import json
import time

import click

from cityscreen import db
from geo.codes import LEVEL_NAMES_ZH, LEVELS


@click.command("boundaries")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--level", required=True, type=click.Choice(LEVELS),
              help="Which level the file holds (city, district, street, community, grid).")
@click.option("--code-field", required=True, help="Property holding the admin code (e.g. adcode).")
@click.option("--name-field", default=None, help="Property holding the name (default: the code).")
@click.option("--parent", default=None,
              help="Parent code every unit must belong to (default: derived from each code).")
@click.option("--crs", default=None,
              help="Coordinate system of the file: wgs84, cgcs2000, gcj02, bd09 or EPSG:NNNN "
                   "(default: what the file declares, else wgs84).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def load_boundaries(file: str, level: str, code_field: str, name_field: str | None,
                    parent: str | None, crs: str | None, as_json: bool) -> None:
    """Load admin boundaries (GeoJSON, GeoPackage, Shapefile) for one level, all or nothing.

    Invalid geometry is repaired (make_valid) and reported; geometry is stored in WGS-84 with
    its area in m² and a display geometry simplified as a coverage.
    """
    from geo.boundaries import BoundaryError, import_boundaries

    started = time.perf_counter()
    try:
        with db.transaction() as conn:
            result = import_boundaries(conn, file, level=level, code_field=code_field,
                                       name_field=name_field, parent=parent, crs=crs)
    except BoundaryError as exc:
        raise click.ClickException(f"{file}: {exc}; nothing loaded") from None
    if as_json:
        click.echo(json.dumps({"level": level, "loaded": len(result.units),
                               "replaced": result.replaced, "repaired": result.repaired,
                               "source_crs": result.source_crs,
                               "seconds": round(time.perf_counter() - started, 3)},
                              ensure_ascii=False))
    else:
        click.echo(f"{LEVEL_NAMES_ZH[level]}: {result.summary()}")


@click.command("generate")
@click.option("--grids", default=2000, show_default=True, type=click.IntRange(9, 100_000),
              help="About how many grids (网格) the city gets.")
@click.option("--seed", default=1, show_default=True, type=int,
              help="Random seed: the same seed builds the same city.")
@click.option("--districts", "districts_file", default=None,
              type=click.Path(dir_okay=False),
              help="Subdivide real district boundaries from this file instead of synthetic ones.")
@click.option("--code-field", default="adcode", show_default=True,
              help="With --districts: the property holding the district code.")
@click.option("--name-field", default="name", show_default=True,
              help="With --districts: the property holding the district name.")
@click.option("--crs", default=None, help="With --districts: the file's coordinate system.")
def demo_generate(grids: int, seed: int, districts_file: str | None, code_field: str,
                  name_field: str, crs: str | None) -> None:
    """Build the demo city 襄阳市 (420600) and replace it in the database (one transaction)."""
    from geo.boundaries import BoundaryError, read_districts
    from geo.demo_city import generate, load

    started = time.perf_counter()
    districts = None
    if districts_file:
        try:
            districts = read_districts(districts_file, code_field=code_field,
                                       name_field=name_field, crs=crs)
        except BoundaryError as exc:
            raise click.ClickException(f"{districts_file}: {exc}") from None
    with click.progressbar(length=2, label="生成示例城市") as bar:
        city = generate(grids=grids, seed=seed, districts=districts)
        bar.update(1)
        with db.transaction() as conn:
            load(conn, city)
        bar.update(1)
    counts = "，".join(f"{LEVEL_NAMES_ZH[lv]} {len(city.codes[lv])}" for lv in LEVELS)
    click.echo(f"{city.name} {city.code}: {counts} "
               f"({time.perf_counter() - started:.1f} s)")


@click.command("reassign")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help="Only events reported on or after this date (cameras: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def reassign_command(since: object, as_json: bool) -> None:
    """Re-join stored events and cameras to the (redrawn) grids in PostGIS, one transaction.

    A point on a shared border goes to the smallest grid code; a point outside every grid gets
    no grid. The old code is kept in attrs.prev_grid_code; hourly roll-ups of the touched
    grids are rebuilt.
    """
    from cityscreen.settings import get_settings
    from geo.reassign import reassign

    started = time.perf_counter()
    when = since.replace(tzinfo=get_settings().tz) if since is not None else None  # type: ignore[attr-defined]
    with db.transaction() as conn:
        result = reassign(conn, when)
    seconds = time.perf_counter() - started
    if as_json:
        click.echo(json.dumps({**result.__dict__, "seconds": round(seconds, 3)}))
    else:
        click.echo(f"重新分配网格: 事件 {result.events_moved}/{result.events_checked} 条改变网格, "
                   f"摄像头 {result.cameras_moved} 个改变网格, 涉及网格 {result.touched_grids} 个, "
                   f"重建汇总 {result.rollup_rows} 行 ({seconds:.1f} s)")


def register(main: click.Group) -> None:
    """Attach this package's commands to the `cityscreen` command group."""
    main.commands["load"].add_command(load_boundaries, "boundaries")
    main.commands["demo"].add_command(demo_generate, "generate")
    main.add_command(reassign_command, "reassign")
