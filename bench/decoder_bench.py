"""Event-stream decoder throughput: the decoder sees every streamed byte.

Workload: 200 small `assistantResponseEvent` text frames (Kiro's typical chunk size) fed in
1 KiB chunks, decoded and turned into typed events, repeated. Run:
    python bench/decoder_bench.py [--rounds N]
"""

from __future__ import annotations

import argparse
import time

from kiro_proxy.kiro.events import event_from_frame
from kiro_proxy.kiro.eventstream import EventStreamDecoder, encode_event

CHUNK = 1024
FRAMES = 200


def build_stream() -> bytes:
    words = "The quick brown fox jumps over the lazy dog, then writes some Python. "
    return b"".join(
        encode_event("assistantResponseEvent", {"content": words[: 20 + i % 40]})
        for i in range(FRAMES)
    )


def run(stream: bytes, rounds: int, *, typed: bool) -> float:
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    started = time.perf_counter()
    for _ in range(rounds):
        decoder = EventStreamDecoder()
        count = 0
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                if typed:
                    event_from_frame(frame)
                count += 1
        decoder.close()
        assert count == FRAMES
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    stream = build_stream()
    run(stream, 20, typed=True)  # warm-up
    for typed in (False, True):
        best = min(run(stream, args.rounds, typed=typed) for _ in range(3))
        mb_s = len(stream) * args.rounds / best / 1e6
        frames_s = FRAMES * args.rounds / best
        label = "decode + event_from_frame" if typed else "decode only"
        print(
            f"{label:>26}: {mb_s:7.1f} MB/s  {frames_s:10,.0f} frames/s  "
            f"({len(stream) / FRAMES:.0f}-byte frames, {CHUNK}-byte chunks)"
        )


if __name__ == "__main__":
    main()
