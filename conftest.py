pytest_plugins = ["ifuno_tools.testing.pytest_plugin"]
