"""A stand-in for kg's llama.cpp child: the fake chat server on a given port, as a process.

Run as ``python -m tests.fake_llm_child kg.llm.runtime _child PORT`` so that its command line
looks like the real child's to ``kg.llm.runtime`` (which checks it before trusting a pid);
``KG_FAKE_LLM_DELAY_S`` makes every answer that slow.
"""

from __future__ import annotations

import os
import sys
import time

from tests.fake_llm_server import FakeLLM

if __name__ == "__main__":
    def announce(n: int) -> None:  # a test kills this process at a chosen request
        print(f"request {n}", flush=True)

    delay = float(os.environ.get("KG_FAKE_LLM_DELAY_S") or 0)
    with FakeLLM(on_request=announce, port=int(sys.argv[-1]), delay_s=delay):
        while True:
            time.sleep(1)
