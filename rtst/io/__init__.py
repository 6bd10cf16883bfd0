"""Audio in and out: sound-card streams (sounddevice/PortAudio) and audio files."""
