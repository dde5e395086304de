"""Evaluation and benchmarks (docs/evaluation.md).

    asr            transcribe(wav, sample_rate) -> text; word_error_rate, phone_error_rate (pocketsphinx / Whisper)
    speaker        speaker_embedding, speaker_similarity, similarity_bounds (resemblyzer)
    quality        dnsmos (speechmos, optional), timing_metrics (duration error, edge silence)
    sync           mouth_aperture, audio_envelope, sync_score -> offset + confidence; mismatched_pairs
    motion_metrics lip_vertex_error, face_mean_error, jitter, frechet_motion_distance, sample_diversity
    evaluate       per-clip metrics and per-system summaries over manifests
    generate       checkpoint + test manifest -> generated manifest
    report         the `jamflow eval` command: report.md / report.json / plots
    plots          sync, metric-bar and mel PNGs
    bench          the `jamflow bench` command: inference / training / compare timings

Submodules are imported on use: importing `jamflow.eval` loads nothing heavy.
"""
