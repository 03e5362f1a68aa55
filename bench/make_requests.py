"""Make N request files of mixed dialects and validity (deterministic), for the check benchmarks."""

from __future__ import annotations

import json
import random
from pathlib import Path

MODELS = {"content": ["doubao-seedance-2-0-260128", "doubao-seedance-2-0-fast-260128", "seedance-2.0"],
          "video-generations": ["seedance2.0-720p", "seedance2.0-fast-480p"],
          "openai-videos": ["doubao-seedance-2-0-260128"]}
PROMPTS = ["A cat yawning at the camera, soft lighting, close-up shot",
           "The character from @image1 walks through the scene in @video1, with @audio1 as music",
           "Drone shot over an autumn valley, golden forests, winding river, cinematic " * 3]


def _url(rng: random.Random, kind: str, n: int) -> str:
    ext = {"image": "png", "video": "mp4", "audio": "mp3"}[kind]
    return rng.choice([f"https://cdn.example.com/{kind}/{n}.{ext}", f"asset://asset-{n:06d}",
                       f"https://cdn.example.com/{kind}/{n}.{ext}?sig=abc"])


def content_request(rng: random.Random, broken: bool) -> dict:
    items = [{"type": "text", "text": rng.choice(PROMPTS)}]
    mode = rng.choice(["t2v", "first", "firstlast", "ref"])
    if mode == "first":
        items.append({"type": "image_url", "image_url": {"url": _url(rng, "image", 1)}})
    elif mode == "firstlast":
        items += [{"type": "image_url", "image_url": {"url": _url(rng, "image", i)}, "role": r}
                  for i, r in enumerate(("first_frame", "last_frame"))]
    elif mode == "ref":
        items += [{"type": "image_url", "image_url": {"url": _url(rng, "image", i)}, "role": "reference_image"}
                  for i in range(rng.randint(1, 4))]
        items += [{"type": "video_url", "video_url": {"url": _url(rng, "video", i)}, "role": "reference_video"}
                  for i in range(rng.randint(0, 2))]
        items += [{"type": "audio_url", "audio_url": {"url": _url(rng, "audio", i)}, "role": "reference_audio"}
                  for i in range(rng.randint(0, 2))]
    req = {"model": MODELS["content"][rng.randrange(2)], "content": items,
           "resolution": rng.choice(["480p", "720p"]), "ratio": rng.choice(["16:9", "9:16", "adaptive"]),
           "duration": rng.randint(4, 15), "generate_audio": rng.random() < 0.5, "watermark": False}
    if broken:
        breakage = rng.randrange(6)
        if breakage == 0:
            req["duration"] = 20
        elif breakage == 1:
            req["watermark"] = "false"
        elif breakage == 2:
            items.append({"type": "image_url", "image_url": {"url": "ftp://x/a.png"}, "role": "first_frame"})
        elif breakage == 3:
            items.insert(0, items.pop())
        elif breakage == 4:
            req["frames"] = 121
        else:
            req["resolutoin"] = "1080p"
    return req


def flat_request(rng: random.Random, broken: bool) -> dict:
    req = {"model": rng.choice(MODELS["video-generations"]), "prompt": rng.choice(PROMPTS),
           "duration": rng.randint(5, 15), "aspect_ratio": rng.choice(["16:9", "9:16", "1:1"]),
           "extra_body": {"generate_audio": True, "seed": rng.randint(0, 2**31), "watermark": False}}
    if rng.random() < 0.5:
        req["images"] = [_url(rng, "image", i) for i in range(rng.randint(1, 3))]
    if broken:
        req["aspect_ratio"] = "4:3" if rng.random() < 0.5 else req["aspect_ratio"]
        req["duration"] = 4
    return req


def openai_request(rng: random.Random, broken: bool) -> dict:
    req = {"model": MODELS["openai-videos"][0], "prompt": rng.choice(PROMPTS), "seconds": str(rng.randint(4, 15)),
           "resolution": "720p", "ratio": rng.choice(["16:9", "adaptive"]), "generate_audio": False}
    if broken:
        req["duration"] = 8
    return req


def main(out: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    makers = [("content", content_request)] * 6 + [("video-generations", flat_request)] * 2 + [("openai-videos", openai_request)] * 2
    for i in range(n):
        dialect, make = makers[i % len(makers)]
        (out / dialect).mkdir(exist_ok=True)
        req = make(rng, broken=rng.random() < 0.4)
        (out / dialect / f"req-{i:05d}.json").write_text(json.dumps(req, indent=2))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write N request files of mixed dialects and validity into OUT.")
    parser.add_argument("out", type=Path, help="folder to write (created)")
    parser.add_argument("n", type=int, nargs="?", default=10_000, help="how many files (default 10000)")
    args = parser.parse_args()
    main(args.out, args.n)
