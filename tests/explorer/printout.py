"""Reading qkv's printed matrices and the pages' tables, to compare the two."""
import json
import re


def cli_matrix(text, title):
    """The rows of the matrix printed under the line '<title>  (r, c)' by qkv's print_matrix, as
    (label, [numbers]) pairs (a trailing row sum is included as the last number)."""
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line.startswith(title + "  ("):
            shape = re.match(r"\((\d+), (\d+)\)", line[len(title) + 2:])
            rows = int(shape.group(1))
            out = []
            for row in lines[k + 2:k + 2 + rows]:
                fields = row.split()
                out.append((fields[0], [float(v) for v in fields[1:]]))
            return out
    raise AssertionError(f"no matrix titled {title!r} in the printout:\n{text}")


def page_table(browser, table_id):
    """A table of the page as {'rows': [label...], 'text': [[cell text...]], 'values': [[data-value...]],
    'sums': [row sum or None], 'active': [row indices with class active]}."""
    return browser.eval(f"""(() => {{
        const t = document.getElementById({json.dumps(table_id)});
        if (!t) return null;
        const rows = [...t.tBodies[0].rows];
        return {{
            rows: rows.map(r => r.cells[0].textContent),
            text: rows.map(r => [...r.querySelectorAll("td:not(.sum)")].map(c => c.textContent)),
            values: rows.map(r => [...r.querySelectorAll("td:not(.sum)")].map(c => Number(c.dataset.value))),
            sums: rows.map(r => {{ const s = r.querySelector("td.sum"); return s ? Number(s.dataset.value) : null; }}),
            active: rows.map((r, i) => r.classList.contains("active") ? i : -1).filter(i => i >= 0),
        }};
    }})()""")


def assert_close_to_printout(table, printed, decimals=3):
    """Every cell of the page's table shows the printed number (up to the last printed digit)."""
    assert table is not None, "table missing from the page"
    assert len(table["text"]) == len(printed)
    for (label, numbers), shown, values in zip(printed, table["text"], table["values"]):
        cols = len(shown)
        for j in range(cols):
            assert abs(float(shown[j]) - numbers[j]) <= 10 ** -decimals + 1e-9, (label, j, shown[j], numbers[j])
            assert abs(values[j] - numbers[j]) <= 0.5 * 10 ** -decimals + 1e-6, (label, j, values[j], numbers[j])
