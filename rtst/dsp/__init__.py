"""Signal processing: windows, FFT kernels, streaming and offline STFT."""
