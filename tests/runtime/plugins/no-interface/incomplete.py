from plugin_runtime import interface


class IncompletePlugin:
    def metadata(self) -> interface.PluginMetadata:
        return interface.PluginMetadata("no-interface", "x", "1.0.0", "tests", "", interface.ContractFormat.CUSTOM)

    def init(self, config: object) -> None:
        pass

    def before_jwt_sign(self, ctx: object, claims: dict) -> dict:
        return claims

    shutdown = None
