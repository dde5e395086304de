"""LivePortrait in jamflow: networks F, M, W, G, S (official weights), face cropping, motion
extraction (`jamflow extract-motion`) and the "liveportrait" renderer. See docs/liveportrait.md.

Submodules are imported on use: torch-heavy networks load only when a command needs them.
"""
