from imagetune.cli import run

run()
