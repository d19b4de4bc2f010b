"""A Faust agent that does nothing: how fast one faust-streaming agent consumes a topic on this machine.

bench_pipeline.py runs it on its raw-consume topic; it logs one line, `faust-noop <events/s>`, and exits.

    FAUST_NOOP_TOPIC=t FAUST_NOOP_COUNT=50000 python bench/faust_noop.py worker -l warn
"""
from __future__ import annotations

import os
import time

import faust

COUNT = int(os.environ.get("FAUST_NOOP_COUNT", "50000"))
app = faust.App(f"bench-faust-noop-{time.time_ns()}",
                broker=f"kafka://{os.environ.get('MODELSCREEN_KAFKA_BOOTSTRAP', '127.0.0.1:9092')}",
                store="memory://", web_enabled=False, topic_disable_leader=True,
                consumer_auto_offset_reset="earliest")
topic = app.topic(os.environ["FAUST_NOOP_TOPIC"], value_serializer="raw", key_serializer="raw")


@app.agent(topic)
async def noop(stream):
    seen, started = 0, None
    async for _event in stream.noack().events():  # the pipeline's stages consume the same way
        started = started or time.perf_counter()
        seen += 1
        if seen == COUNT:
            print(f"faust-noop {COUNT / (time.perf_counter() - started):.0f}", flush=True)
            os._exit(0)


if __name__ == "__main__":
    app.main()
