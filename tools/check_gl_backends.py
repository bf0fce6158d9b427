"""Checks MuJoCo Scenes renders of one GL backend against a reference made with another.

  # here (OSMesa on a CPU machine): render held-out scenes, keep them
  python tools/check_gl_backends.py reference --data data/mujoco_scenes --out ref.npz
  # on a GPU machine (EGL chosen automatically; TensorFlow not needed there)
  python tools/check_gl_backends.py compare --reference ref.npz --out-dir OUT

The reference file carries the scenes' descriptions, so the GPU machine needs
neither the data set nor TensorFlow, only NumPy and MuJoCo. ``compare``
renders the same scenes with ``spiral_tf``'s own ``SceneRenderer`` and
reports, per image size, how far the two backends' images are apart next to
how far the scenes are from the empty platform (the ℓ2 scale every MuJoCo
result uses), and renders per second in one process and summed over several
processes. The last line printed is JSON.
"""
import argparse
import json
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np  # noqa: E402  pylint: disable=g-import-not-at-top

from spiral_tf.envs import mujoco_render  # noqa: E402  pylint: disable=g-import-not-at-top

def load_scenes(data_dir: str, num_scenes: int) -> list:
  """The first ``num_scenes`` held-out scene descriptions of a MuJoCo Scenes folder."""
  # Imported here: the data module needs TensorFlow, which ``compare`` machines may lack.
  from spiral_tf.data import mujoco_scenes  # pylint: disable=g-import-not-at-top
  return mujoco_scenes.load_descriptions(data_dir, "test")[:num_scenes]


def render_all(scenes, image_size: int) -> np.ndarray:
  """Float [N, S, S, 3] renders of ``scenes`` with the backend this process chose."""
  with mujoco_render.SceneRenderer(image_size=image_size) as renderer:
    return np.stack([renderer.render_scene(objects) for objects in scenes])


def renders_per_second(scenes, image_size: int, seconds: float) -> float:
  """Renders per second of whole scenes, after a warm-up, for about ``seconds``."""
  with mujoco_render.SceneRenderer(image_size=image_size) as renderer:
    for objects in scenes[:10]:
      renderer.render_scene(objects)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      for objects in scenes:
        renderer.render_scene(objects)
      count += len(scenes)
    return count / (time.perf_counter() - start)


def _rate_worker(job):
  scenes, image_size, seconds = job
  mujoco_render.import_mujoco()
  return renders_per_second(scenes, image_size, seconds)


def backend_difference(images, reference, blank) -> dict:
  """How far two backends' renders are apart, on the scale of scene-vs-blank ℓ2."""
  diff = np.abs(images - reference)                       # [N, S, S, 3]
  l2_between = ((images - reference) ** 2).mean(axis=(1, 2, 3))
  l2_to_blank = ((reference - blank) ** 2).mean(axis=(1, 2, 3))
  return {
      "identical_images": int((diff.max(axis=(1, 2, 3)) == 0).sum()),
      "max_abs_diff": float(diff.max()),
      "mean_abs_diff": float(diff.mean()),
      "share_pixels_off_by_over_1pct": float((diff.max(axis=-1) > 0.01).mean()),
      "mean_l2_between_backends": float(l2_between.mean()),
      "mean_l2_scene_vs_blank": float(l2_to_blank.mean()),
      "l2_ratio": float(l2_between.mean() / max(l2_to_blank.mean(), 1e-12)),
  }


def make_reference(args) -> dict:
  mujoco = mujoco_render.import_mujoco()
  scenes = load_scenes(args.data, args.num_scenes)
  out = {"scenes": np.array(json.dumps(scenes)), "backend": np.array(os.environ["MUJOCO_GL"]),
         "sizes": np.array(args.sizes)}
  summary = {"backend": os.environ["MUJOCO_GL"], "mujoco": mujoco.__version__,
             "scenes": len(scenes)}
  for size in args.sizes:
    out[f"images{size}"] = render_all(scenes, size).astype(np.float32)
    out[f"blank{size}"] = render_all([[]], size)[0].astype(np.float32)
    out[f"rate{size}"] = np.array(renders_per_second(scenes, size, args.seconds))
    summary[f"renders_per_s_{size}"] = float(out[f"rate{size}"])
  tmp = args.out + ".tmp.npz"  # np.savez adds .npz; renamed only when complete
  np.savez_compressed(tmp, **out)
  os.replace(tmp, args.out)
  return summary


def compare(args) -> dict:
  reference = np.load(args.reference)
  chosen = mujoco_render.choose_gl_backend()
  mujoco = mujoco_render.import_mujoco(chosen)
  scenes = json.loads(str(reference["scenes"]))
  result = {"backend": chosen, "reference_backend": str(reference["backend"]),
            "mujoco": mujoco.__version__, "scenes": len(scenes)}
  for size in [int(s) for s in reference["sizes"]]:
    images = render_all(scenes, size)
    row = backend_difference(images.astype(np.float64), reference[f"images{size}"].astype(np.float64),
                             reference[f"blank{size}"].astype(np.float64))
    row["renders_per_s_one_process"] = renders_per_second(scenes, size, args.seconds)
    row["reference_renders_per_s_one_process"] = float(reference[f"rate{size}"])
    result[f"size{size}"] = row
    if args.out_dir:
      os.makedirs(args.out_dir, exist_ok=True)
      np.save(os.path.join(args.out_dir, f"{chosen}{size}.npy"),
              (images[:64] * 255).round().astype(np.uint8))
  print(json.dumps(result), flush=True)  # kept even if the process pools below fail
  size = int(reference["sizes"][0])
  context = multiprocessing.get_context("spawn")  # each process makes its own GL context
  for processes in args.processes:
    with context.Pool(processes) as pool:
      rates = pool.map(_rate_worker, [(scenes, size, args.seconds)] * processes)
    result[f"renders_per_s_{size}_{processes}_processes"] = float(sum(rates))
  return result


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="mode", required=True)
  ref = sub.add_parser("reference", help="render held-out scenes and keep them")
  ref.add_argument("--data", default="data/mujoco_scenes")
  ref.add_argument("--num-scenes", type=int, default=200)
  ref.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
  ref.add_argument("--out", required=True)
  cmp_ = sub.add_parser("compare", help="render the reference's scenes with this machine's backend")
  cmp_.add_argument("--reference", required=True)
  cmp_.add_argument("--out-dir", default=None, help="keeps the first 64 renders per size")
  cmp_.add_argument("--processes", type=int, nargs="*", default=[4, 16])
  for p in (ref, cmp_):
    p.add_argument("--seconds", type=float, default=4.0, help="length of each timing")
  args = parser.parse_args(argv)
  result = make_reference(args) if args.mode == "reference" else compare(args)
  print(json.dumps(result))
  return result


if __name__ == "__main__":
  main()
