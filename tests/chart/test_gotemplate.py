"""The test renderer itself: Go template semantics for the subset the chart uses, errors for the rest."""

from __future__ import annotations

from typing import Any

import pytest

from .gotemplate import TemplateError, render

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
