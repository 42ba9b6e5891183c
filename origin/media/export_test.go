package media

// AudioQueueLen is how many audio frames s holds back waiting for video.
func AudioQueueLen(s *Session) int {
	if s.audio == nil {
		return 0
	}
	return len(s.audio.queue)
}

// MaxAudioQueue bounds AudioQueueLen.
const MaxAudioQueue = maxAudioQueue
