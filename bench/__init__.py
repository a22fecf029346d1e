"""Benchmarks (not tests): ratios against raw aiohttp measured in one run, peak RSS."""
