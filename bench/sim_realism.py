"""How real do the simulator's stimuli sound to the default audio-emotion predictor?

The default predictor (``neuromer/audio/default_predictor.json``) is a standardised logistic model
fitted on 4QAED's real recordings: every cue is z-scored with the 4QAED mean and scale and clipped
to +-3. Stimuli whose cues lie many standard deviations outside real music are read badly. This
script synthesises the stimuli of a simulated study exactly as :func:`neuromer.simulate.simulate_study`
does (same stimulus plan, same seeds, 16-bit quantisation) and prints:

1. per cue, the z-score of the stimuli against the 4QAED mean/scale: mean, min and max over
   stimuli, for the clip summary (one row per stimulus) and for the 1 s / 0.5 s window grid of the
   pipeline (all windows of all stimuli);
2. the default predictor's valence and arousal (mean over each stimulus' windows, as in the
   report's music section) against the planted stimulus valence and arousal: Pearson r, and the
   quadrant accuracy (chance 0.25), for the demo's study (``--trials 8``) and for a larger study
   (``--trials-big``, more stimuli, so r is less noisy).

``--pure`` synthesises without the realism layer (``synthesize_music(realism=False)``: the clean
additive tones of earlier versions) for comparison.

Run: ``python bench/sim_realism.py [--seed 0] [--trials 8] [--trials-big 32] [--pure]``.
Prints wall and CPU time and the load average (the figures are CPU time in this process).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def stimuli(n_trials: int, seed: int, stimulus_s: float, realism: bool):
    """(stimulus table, list of 16-bit-quantised signals) as simulate_study plans and writes them."""
    from neuromer.simulate import _cues, _plan_stimuli, synthesize_music

    table = _plan_stimuli(n_trials, np.random.default_rng(seed))
    sounds = []
    for _, st in table.iterrows():
        y = synthesize_music(duration_s=stimulus_s, seed=int(st.audio_seed), realism=realism, **_cues(st))
        sounds.append(np.round(y * 32767) / 32767)  # what the PCM_16 file holds (about)
    return table, sounds


def features(table, sounds, sr):
    from neuromer.audio.summary import summarize

    clips, wins = [], []
    for sid, y in zip(table.stimulus_id, sounds):
        dur = len(y) / sr
        clips.append(summarize(y, sr, melody=False).assign(stimulus_id=sid))
        starts = np.arange(0.0, dur - 1.0 + 1e-9, 0.5)
        wins.append(summarize(y, sr, windows=[(s, s + 1.0) for s in starts], melody=False).assign(stimulus_id=sid))
    return pd.concat(clips, ignore_index=True), pd.concat(wins, ignore_index=True)


def z_table(clip: pd.DataFrame, win: pd.DataFrame) -> pd.DataFrame:
    from neuromer.audio.default_model import load_default_model

    rows = []
    for c in load_default_model()["cues"]:
        zc = (clip[c["column"]] - c["mean"]) / c["scale"]
        zw = (win[c["column"]] - c["mean"]) / c["scale"]
        rows.append({"cue": c["column"].removeprefix("audio_"), "4qaed_mean": c["mean"],
                     "clip_z_mean": zc.mean(), "clip_z_min": zc.min(), "clip_z_max": zc.max(),
                     "win_z_mean": zw.mean(), "win_z_p5": zw.quantile(0.05), "win_z_p95": zw.quantile(0.95)})
    return pd.DataFrame(rows)


def agreement(table: pd.DataFrame, clip: pd.DataFrame, win: pd.DataFrame) -> dict:
    from neuromer.audio.emotion import quadrant

    per = win.groupby("stimulus_id")[["audio_pred_valence", "audio_pred_arousal"]].mean()
    t = table.set_index("stimulus_id").join(per)
    c = clip.set_index("stimulus_id")
    t = t.join(c[["audio_pred_valence", "audio_pred_arousal"]].add_prefix("clip_"))
    q_win = quadrant(t.audio_pred_valence, t.audio_pred_arousal)
    q_clip = quadrant(t.clip_audio_pred_valence, t.clip_audio_pred_arousal)
    return {
        "n": len(t),
        "r_valence": np.corrcoef(t.valence, t.audio_pred_valence)[0, 1],
        "r_arousal": np.corrcoef(t.arousal, t.audio_pred_arousal)[0, 1],
        "quadrant_acc": float(np.mean(q_win == t.quadrant.to_numpy())),
        "clip_r_valence": np.corrcoef(t.valence, t.clip_audio_pred_valence)[0, 1],
        "clip_r_arousal": np.corrcoef(t.arousal, t.clip_audio_pred_arousal)[0, 1],
        "clip_quadrant_acc": float(np.mean(q_clip == t.quadrant.to_numpy())),
        "pred_valence_range": (float(t.audio_pred_valence.min()), float(t.audio_pred_valence.max())),
        "pred_arousal_range": (float(t.audio_pred_arousal.min()), float(t.audio_pred_arousal.max())),
        "pred_quadrants": dict(pd.Series(q_win).value_counts().sort_index()),
    }


def main() -> None:
    from neuromer.simulate import AUDIO_SR

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trials", type=int, default=8, help="stimuli of the demo's study (default 8)")
    p.add_argument("--trials-big", type=int, default=32, help="stimuli of the larger study (0: skip)")
    p.add_argument("--stimulus-s", type=float, default=15.0)
    p.add_argument("--pure", action="store_true", help="without the realism layer (realism=False)")
    args = p.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.precision", 2)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    cpu_synth = 0.0
    for n in [args.trials] + ([args.trials_big] if args.trials_big else []):
        c0 = time.process_time()
        table, sounds = stimuli(n, args.seed, args.stimulus_s, realism=not args.pure)
        cpu_synth += time.process_time() - c0
        clip, win = features(table, sounds, AUDIO_SR)
        print(f"\n=== {n} stimuli x {args.stimulus_s:g} s, seed {args.seed}, "
              f"{'pure tones' if args.pure else 'realism layer'} ===")
        print("z-scores of the cues against 4QAED (clip: one row per stimulus; win: 1 s windows)")
        print(z_table(clip, win).to_string(index=False))
        ag = agreement(table, clip, win)
        print(f"default predictor vs planted emotion ({ag['n']} stimuli, window means):  "
              f"r valence {ag['r_valence']:.2f}, r arousal {ag['r_arousal']:.2f}, "
              f"quadrant accuracy {ag['quadrant_acc']:.2f} (chance 0.25)")
        print(f"  clip rows:  r valence {ag['clip_r_valence']:.2f}, r arousal {ag['clip_r_arousal']:.2f}, "
              f"quadrant accuracy {ag['clip_quadrant_acc']:.2f}")
        print(f"  predicted valence {ag['pred_valence_range'][0]:.2f}..{ag['pred_valence_range'][1]:.2f}, "
              f"arousal {ag['pred_arousal_range'][0]:.2f}..{ag['pred_arousal_range'][1]:.2f}, "
              f"quadrants {ag['pred_quadrants']}")
    n_synth = args.trials + args.trials_big
    print(f"\nsynthesis: {cpu_synth:.2f} s CPU for {n_synth} stimuli "
          f"({cpu_synth / n_synth * 1000:.0f} ms CPU per {args.stimulus_s:g} s stimulus)")
    print(f"total: wall {time.perf_counter() - wall0:.1f} s, CPU {time.process_time() - cpu0:.1f} s, "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
