package cache

// Settle waits until the fill has finished or has turned pass-through,
// whichever comes first, so that a reader that needs the whole body (a
// range of a body of unknown length) learns early that it will never be
// there: a pass-through fill keeps only a window. It returns the entry
// when the fill finished (as Wait does), and whether the fill streams
// through uncached.
func (r *Reader) Settle() (e *Entry, passThrough bool, err error) {
	f := r.f
	for {
		f.mu.Lock()
		done, pt, e, err, ch := f.done, f.passThrough, f.entry, f.err, f.changed
		f.mu.Unlock()
		if pt {
			return nil, true, nil
		}
		if done {
			return e, false, err
		}
		select {
		case <-ch:
		case <-r.ctx.Done():
			return nil, false, r.ctx.Err()
		}
	}
}
