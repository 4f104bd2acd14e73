"""The row model of the Prometheus adapter: one row per sample, and the names rows and filters use."""

from __future__ import annotations

import re

ADAPTER = "prometheus"
#: Row properties of a sample; the series' labels are the other properties.
METRIC, TIMESTAMP, VALUE = "metric", "timestamp", "value"
RESERVED_PROPERTIES = (METRIC, TIMESTAMP, VALUE)
#: The label holding a series' name, which rows show as `metric`.
NAME_LABEL = "__name__"
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
