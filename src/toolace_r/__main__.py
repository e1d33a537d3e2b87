from toolace_r.cli import app

app(prog_name="toolace-r")
