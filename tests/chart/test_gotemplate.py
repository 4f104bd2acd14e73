"""The test renderer itself: Go template semantics for the subset the chart uses, errors for the rest."""

from __future__ import annotations

from typing import Any

import pytest

from .gotemplate import TemplateError, render, render_chart

CONTEXT: dict[str, Any] = {
    "Values": {
        "name": "api",
        "port": 8000,
        "on": True,
        "off": False,
        "empty": [],
        "items": ["a", "b"],
        "labels": {"team": "x", "tier": "web"},
        "nested": {"key": "value"},
    },
    "Release": {"Name": "rel", "Namespace": "ns"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("name: {{ .Values.name }}", "name: api"),
        ("port: {{ .Values.port }}", "port: 8000"),
        ("flag: {{ .Values.on }}", "flag: true"),
        ("{{ .Release.Name }}-{{ .Release.Namespace }}", "rel-ns"),
        ("v: {{ .Values.port | quote }}", 'v: "8000"'),
        ('v: {{ "a\\"b" | quote }}', 'v: "a\\"b"'),
        ('v: {{ .Values.items | join "," | quote }}', 'v: "a,b"'),
        ('v: {{ .Values.empty | join "," | quote }}', 'v: ""'),
        ("x:\n  {{- toYaml .Values.labels | nindent 2 }}", "x:\n  team: x\n  tier: web"),
        ("{{ .Values.nested | toYaml | indent 4 }}", "    key: value"),
        ("a\n  {{- /* a comment */}}\nb", "a\nb"),
        ("a  {{- .Values.name -}}  \n b", "aapib"),
        ("{{- if .Values.on }}yes{{- else }}no{{- end }}", "yes"),
        ("{{- if .Values.off }}yes{{- else }}no{{- end }}", "no"),
        ("{{- if .Values.empty }}yes{{- end }}", ""),
        ("{{- range $i := .Values.items }}[{{ $i }}/{{ . }}/{{ $.Release.Name }}]{{- end }}", "[a/a/rel][b/b/rel]"),
        ("{{- if .Values.on }}{{- range $i := .Values.items }}{{ $i }}{{- end }}{{- end }}", "ab"),
    ],
)
def test_supported_syntax_renders_like_helm(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == expected


@pytest.mark.parametrize(
    "template",
    [
        '{{ include "x" . }}',
        '{{ template "x" . }}',
        '{{ if .Values.on }}{{ define "x" }}nested{{ end }}{{ end }}',
        "{{ .Values.name | upper }}",
        "{{ with .Values.nested }}{{ .key }}{{ end }}",
        "{{ .Values.missing }}",
        "{{ .Values.labels }}",
        "{{ if .Values.on }}never closed",
        "{{ end }}",
        "{{ range .Values.items }}{{ end }}",
        "{{ $undefined }}",
    ],
)
def test_anything_else_is_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, CONTEXT)


HELPERS = """
{{- define "t.name" -}}
{{ .Release.Name }}-{{ .Release.Namespace }}
{{- end }}
{{- define "t.labels" -}}
name: {{ include "t.name" . }}
port: {{ .Values.port | quote }}
{{- end }}
"""


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('n: {{ include "t.name" . }}', "n: rel-ns"),
        ('n: {{ include "t.name" . | quote }}', 'n: "rel-ns"'),
        ('labels:\n  {{- include "t.labels" . | nindent 2 }}', 'labels:\n  name: rel-ns\n  port: "8000"'),
        ('{{- range $i := .Values.items }}{{ include "t.name" $ }};{{- end }}', "rel-ns;rel-ns;"),
        ('[{{ template "t.name" . }}]', "[rel-ns]"),
    ],
)
def test_named_templates_of_a_helpers_file_are_shared_by_every_template(template: str, expected: str) -> None:
    rendered = render_chart({"_helpers.tpl": HELPERS, "a.yaml": template}, CONTEXT)

    assert rendered == {"a.yaml": expected}, "helpers produce no output of their own"


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ({"a.yaml": '{{ include "missing" . }}'}, "no template named 'missing'"),
        ({"_h.tpl": '{{ define "x" }}1{{ end }}', "_i.tpl": '{{ define "x" }}2{{ end }}'}, "defined twice"),
        ({"_h.tpl": '{{ define "x" }}{{ include "x" . }}{{ end }}', "a.yaml": '{{ include "x" . }}'}, "nested deeper"),
        ({"a.yaml": '{{ include "x" }}', "_h.tpl": '{{ define "x" }}1{{ end }}'}, "one argument"),
    ],
)
def test_named_template_mistakes_are_errors(sources: dict[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render_chart(sources, CONTEXT)
