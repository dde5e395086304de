"""Evaluation and benchmarks (docs/evaluation.md).

    asr            word_error_rate, phone_error_rate of a transcript (recogniser: jamflow.audio.asr)
    speaker        speaker_embedding, speaker_similarity, similarity_bounds (resemblyzer)
    quality        dnsmos (speechmos, optional), timing_metrics (duration error, edge silence)
    sync           audio_envelope vs mouth aperture (jamflow.motion.mouth), sync_score -> offset + confidence; mismatched_pairs
    motion_metrics lip_vertex_error, face_mean_error, jitter, frechet_motion_distance, sample_diversity
    evaluate       per-clip metrics and per-system summaries over manifests
    generate       checkpoint + test manifest -> generated manifest
    report         report.md / report.json / plots of `jamflow eval`
    plots          sync, metric-bar and mel PNGs
    bench          inference / training / compare timings of `jamflow bench`

Submodules are imported on use: importing `jamflow.eval` loads nothing heavy.
"""
