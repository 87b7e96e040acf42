"""The receive-path fuzz rig, shared by the Hypothesis tier and the atheris harness."""
