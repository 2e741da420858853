#!/usr/bin/env python
"""The cdktf app entry point: `npx cdktf synth` (or `make synth`) runs this."""

from stacks.app import build_app

if __name__ == "__main__":
    build_app().synth()
