"""Entry points follow the packages in the build, so each image's wheel declares only its own.

Everything else about the distribution is in pyproject.toml, which lists `scripts` and
`entry-points` as dynamic (setuptools takes both from here: a static entry-points table there
would replace these). The runtime image builds its wheel from `plugin_runtime` and `adapters` alone
(see the Dockerfile): a `plugin-operator` command there would name a package the image lacks. The
operator image and the development install (`make venv`) build from trees with every package, so
they get both commands. tests/chart/test_install_sets.py builds each image's wheel and checks them.
"""

import pathlib

import setuptools

#: Entry point group → name → `module:attribute`; each is built only with the package it names.
ENTRY_POINTS = {
    "console_scripts": {
        "plugin-runtime": "plugin_runtime.cli:main",
        "plugin-operator": "plugin_operator.cli:main",
    },
    # The built-in adapters, found by the runtime like any third-party plugin (plugin_runtime.loader).
    "hyperspot.analytics.plugins": {
        "prometheus": "adapters.prometheus.plugin:PrometheusPlugin",
        "elasticsearch": "adapters.elasticsearch.plugin:ElasticsearchPlugin",
        "odata": "adapters.odata.plugin:ODataPassthroughPlugin",
        "rest": "adapters.rest.plugin:RestPlugin",
        "localsql": "adapters.localsql.plugin:LocalSqlPlugin",
        "graphql": "adapters.graphql.plugin:GraphQLPlugin",
    },
}

_ROOT = pathlib.Path(__file__).resolve().parent


def _built(target: str) -> bool:
    return (_ROOT / target.partition(".")[0] / "__init__.py").is_file()


if __name__ == "__main__":  # setuptools' build backend runs this file as __main__
    setuptools.setup(
        entry_points={
            group: [f"{name} = {target}" for name, target in names.items() if _built(target)]
            for group, names in ENTRY_POINTS.items()
        }
    )
