pytest_plugins = ["ifuno_shared.testing.pytest_plugin"]
