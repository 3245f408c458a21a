"""caremodels spc: Making Data Count XmR charts of any CSV, or of published A&E statistics in the warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.table import Table

from caremodels.cli.common import CONTEXT_SETTINGS, cli, print_json, reporter_of
from caremodels.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from caremodels.evaluation.spc import SpcResult

_OUT_HELP = (
    "Write charts: .html (every group on one offline page with the icons, the summary and an icon "
    "summary for a board pack), or .svg/.png (one file; with several groups, one file per group in a "
    "folder named after the file, e.g. charts/ae.svg writes charts/ae/RF4.svg, ...)."
)


def _annotation(value: str) -> tuple[str, str]:
    when, sep, text = value.partition("=")
    if not sep or not when.strip() or not text.strip():
        raise click.BadParameter(f"give an annotation as DATE=TEXT (e.g. 2017-04-01=go-live), not {value!r}")
    return when.strip(), text.strip()


def _baseline(value: str | None) -> tuple[dt.date, dt.date] | None:
    if value is None:
        return None
    first, sep, last = value.partition("..")
    if not sep or not first or not last:
        raise click.BadParameter(
            f"give the baseline as FIRST..LAST dates (e.g. 2016-04-01..2017-03-01), not {value!r}"
        )
    return _iso_date(first, "--baseline"), _iso_date(last, "--baseline")


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("csv_file", required=False, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--value", "value_column", help="Column holding the measure.")
@click.option("--date", "date_column", help="Column holding the date.")
@click.option(
    "--date-format",
    help="strftime format of the dates, e.g. %d/%m/%Y. Without it, day-first dates are detected and an "
    "ambiguous column is refused.",
)
@click.option("--group", "group_column", help="Column to split the series by (one chart each).")
@click.option("--label", "label_column", help="Column with a readable name for each group, shown on charts.")
@click.option("--target", type=float, help="Target for the assurance icon and the target line.")
@click.option("--trajectory", "trajectory_column", help="Column holding a target that changes over time.")
@click.option(
    "--improvement",
    type=click.Choice(["increase", "decrease", "neither"], case_sensitive=False),
    default="decrease",
    show_default=True,
)
@click.option("--trend-length", type=click.IntRange(6, 8), default=7, show_default=True)
@click.option("--shift-length", type=click.IntRange(6, 8), default=7, show_default=True)
@click.option("--rebase", multiple=True, help="Date from which the limits are recalculated; repeatable.")
@click.option("--baseline", help="FIRST..LAST dates: fix the mean and limits on this period.")
@click.option(
    "--annotate", multiple=True, help="DATE=TEXT note drawn on every chart (e.g. 2017-04-01=go-live)."
)
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False), help=_OUT_HELP)
@click.option("--measure", "measure_name", help="Name of the measure for titles (default: the value column).")
@click.option("--value-format", help="d3 format of values on charts, e.g. .1% for proportions.")
@click.option(
    "--warehouse",
    "warehouse_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Chart a published aggregate from this warehouse instead of a CSV (with --aggregate).",
)
@click.option(
    "--aggregate",
    type=click.Choice(["ae-4-hour"], case_sensitive=False),
    help="ae-4-hour: each trust's monthly 4-hour A&E performance (all department types) from the "
    "published A&E statistics loaded by `caremodels aggregates load ae`.",
)
@click.option(
    "--department-type",
    type=click.Choice(["1", "any"], case_sensitive=False),
    default="1",
    show_default=True,
    help="With --aggregate: 1 charts trusts with a type 1 (major) A&E; any charts every provider.",
)
@click.option(
    "--min-points",
    type=click.IntRange(2),
    default=2,
    show_default=True,
    help="Skip groups with fewer points.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def spc(context: click.Context, csv_file: Path | None, **options: Any) -> None:
    """Statistical process control (XmR) charts as in Making Data Count.

    Prints the summary (mean, limits, special causes, icons) of each group; --out also draws the charts.
    """
    from caremodels.evaluation.spc import spc as run_spc
    from caremodels.spc_charts import ChartOptions, parse_dates, write_charts

    reporter = reporter_of(context)
    frame, source, defaults = _load(csv_file, options)
    value, date, group = defaults["value"], defaults["date"], defaults["group"]
    frame[date] = parse_dates(frame[date], column=date, date_format=options["date_format"], file=source)
    frame, skipped = _drop_short(frame, date, group, options["min_points"])
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        reporter.info(
            f"warning: skipped {len(skipped)} group(s) with fewer than {options['min_points']} points: {shown}"
        )
    if frame.empty:
        raise DataError("no group has enough points to chart", file=source)
    target = options["target"] if options["target"] is not None else defaults["target"]
    notes = [(_iso_date(when, "--annotate"), text) for when, text in map(_annotation, options["annotate"])]
    rebase = [_iso_date(when, "--rebase") for when in options["rebase"]]
    baseline = _baseline(options["baseline"])
    try:
        import warnings

        from caremodels.evaluation.spc import ShortSeriesWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ShortSeriesWarning)
            results = run_spc(
                frame,
                value=value,
                date=date,
                group=group,
                target=target,
                improvement=(defaults["improvement"] or options["improvement"]).lower(),
                trend_length=options["trend_length"],
                shift_length=options["shift_length"],
                rebase=rebase or None,
                baseline=baseline,
            )
        for warning in caught:
            reporter.info(f"warning: {warning.message}")
    except ValueError as error:
        raise DataError(str(error), file=source) from error
    if options["out_file"] is not None:
        chart_options = ChartOptions(
            measure=options["measure_name"] or defaults["measure"] or value,
            value_format=options["value_format"] or defaults["value_format"],
            annotations=notes,
            trajectory=_trajectory(frame, date, group, options["trajectory_column"] or None, source),
            labels=_labels(frame, group, options["label_column"] or defaults["label"], source),
            source=source.name if isinstance(source, Path) else str(source),
        )
        written = write_charts(results, options["out_file"], chart_options)
        where = written[0] if len(written) == 1 else written[0].parent
        reporter.info(f"wrote {len(written)} file(s): {where}")
    if options["as_json"]:
        print_json([result.model_dump(mode="json") for result in results])
        return
    _print_table(reporter, results)


def _iso_date(value: str, option: str) -> dt.date:
    # Dates typed on the command line are ISO only: 01/04/2016 would be ambiguous here too.
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as error:
        raise click.BadParameter(f"{option}: {value!r} is not a date; give YYYY-MM-DD") from error


def _load(csv_file: Path | None, options: dict[str, Any]) -> tuple[pd.DataFrame, Path | str, dict[str, Any]]:
    """The frame to chart, where it came from, and the columns and defaults that go with it."""
    import pandas as pd

    defaults: dict[str, Any] = {
        "target": None,
        "improvement": None,
        "measure": None,
        "value_format": None,
        "label": None,
    }
    if options["aggregate"] is not None or options["warehouse_path"] is not None:
        if csv_file is not None:
            raise click.UsageError("give either a CSV file or --warehouse with --aggregate, not both")
        if options["aggregate"] is None or options["warehouse_path"] is None:
            raise click.UsageError("--warehouse and --aggregate go together")
        from caremodels.indicators.published import four_hour_performance

        frame = four_hour_performance(
            options["warehouse_path"], department_type=None if options["department_type"] == "any" else "1"
        )
        frame["period"] = frame["period"].astype(str)
        defaults |= {
            "value": "performance",
            "date": "period",
            "group": "org_code",
            "label": "org_name",
            "target": 0.95,
            "improvement": "increase",
            "measure": "A&E 4-hour performance (all department types)",
            "value_format": ".1%",
        }
        for option in ("value_column", "date_column", "group_column"):
            if options[option]:
                raise click.UsageError(f"--{option.split('_')[0]} does not apply to --aggregate")
        return frame, options["warehouse_path"], defaults
    if csv_file is None:
        raise click.UsageError("give a CSV file (or --warehouse with --aggregate)")
    if not options["value_column"] or not options["date_column"]:
        raise click.UsageError("a CSV needs --value and --date")
    try:
        frame = pd.read_csv(csv_file, dtype={options["date_column"]: str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DataError(f"cannot read CSV: {error}", file=csv_file) from error
    columns = {column.lower(): column for column in frame.columns}
    for option in ("value_column", "date_column", "group_column", "label_column", "trajectory_column"):
        wanted = options[option]
        if wanted and wanted not in frame.columns:
            if wanted.lower() in columns:  # column names match case-insensitively
                options[option] = columns[wanted.lower()]
            else:
                raise DataError(
                    f"no column {wanted!r}; the columns are {', '.join(map(str, frame.columns))}",
                    file=csv_file,
                    field=wanted,
                )
    defaults |= {
        "value": options["value_column"],
        "date": options["date_column"],
        "group": options["group_column"],
    }
    return frame, csv_file, defaults


def _drop_short(
    frame: pd.DataFrame, date: str, group: str | None, min_points: int
) -> tuple[pd.DataFrame, list[str]]:
    """Groups with too few points for an XmR chart are left out (and named), not fatal."""
    if group is None:
        return frame, []
    sizes = frame.groupby(group, dropna=False)[date].transform("size")
    short = sorted({str(key) for key in frame.loc[sizes < min_points, group]})
    return frame.loc[sizes >= min_points].reset_index(drop=True), short


def _trajectory(
    frame: pd.DataFrame, date: str, group: str | None, column: str | None, source: Path | str
) -> dict[Any, list[tuple[dt.date, float]]]:
    import pandas as pd

    if column is None:
        return {}
    values = pd.to_numeric(frame[column], errors="coerce")
    rows = frame.assign(_trajectory=values).dropna(subset=["_trajectory"])
    if rows.empty:
        raise DataError(f"the trajectory column {column!r} has no numbers", file=source, field=column)
    keys = rows[group] if group else pd.Series([None] * len(rows), index=rows.index)
    path: dict[Any, list[tuple[dt.date, float]]] = {}
    for key, when, value in zip(keys, rows[date], rows["_trajectory"], strict=True):
        path.setdefault(_plain(key), []).append((pd.Timestamp(when).date(), float(value)))
    return {key: sorted(points) for key, points in path.items()}


def _labels(frame: pd.DataFrame, group: str | None, column: str | None, source: Path | str) -> dict[Any, str]:
    if group is None or column is None:
        return {}
    pairs = frame[[group, column]].dropna().drop_duplicates()
    return {_plain(key): str(name) for key, name in zip(pairs[group], pairs[column], strict=True)}


def _plain(key: Any) -> Any:
    # numpy scalars as Python ones, so they match SpcResult.group.
    return key.item() if hasattr(key, "item") else key


def _print_table(reporter: Any, results: list[SpcResult]) -> None:
    table = Table(title="SPC", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    # The group is what a user types next (e.g. a trust code), and the icons are the answer:
    # those columns never wrap or cut; the numbers give way first.
    table.add_column("group", no_wrap=True, min_width=5)
    for heading in ("points", "mean", "lower", "upper", "signals"):
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_column("variation", no_wrap=True)
    table.add_column("assurance", no_wrap=True)
    for result in results:
        special = sum(1 for point in result.points if point.special_cause_rule)
        table.add_row(
            "all" if result.group is None else str(result.group),
            str(result.n_points),
            _fmt(result.centre),
            _fmt(result.lower_limit),
            _fmt(result.upper_limit),
            str(special),
            result.variation_icon,
            str(result.assurance_icon),
        )
    reporter.out.print(table)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value)
