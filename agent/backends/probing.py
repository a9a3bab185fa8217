"""Is a package installed, and which version, without importing it."""


def probe_distribution(module, distribution, install_hint="pip install onnxruntime numpy"):
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return {"available": False, "reason": "%s is not installed" % module, "install_hint": install_hint}
    try:
        from importlib.metadata import version  # Python >= 3.8

        return {"available": True, "version": version(distribution)}
    except Exception:
        return {"available": True, "version": "unknown"}
