"""The YARA rule library (`yara/<category>/*.yar`), shipped as package data of `modelscreen.rules`."""
