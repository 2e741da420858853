# The package's own __init__ imports each of its submodules (one per resource and data source) so
# that each registers with the jsii runtime; a type checker following it reads them all (2,135
# modules for AWS: minutes, and 300 MB of mypy cache). The library and the app import the
# submodules they use by name (`from cdktf_cdktf_provider_aws.vpc import Vpc`), which resolve to
# the installed package, fully typed: only this file stands in for its __init__. Read by mypy
# (mypy.ini mypy_path) and by pyright/Pylance (their default stub directory, `typings/`).
