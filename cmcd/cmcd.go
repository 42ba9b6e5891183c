// Package cmcd reads Common Media Client Data (CTA-5004): what a player
// reports about its session, buffer and the object it asks for, in the
// CMCD query parameter or the CMCD-Request, CMCD-Object, CMCD-Status and
// CMCD-Session header fields.
package cmcd

// Data is the subset of CMCD keys the edge logs and counts. A key the
// player did not send keeps its zero value.
type Data struct {
	// SID is the session id (sid), CID the content id (cid).
	SID, CID string
	// BS is buffer starvation (bs): the player rebuffered since its last
	// request.
	BS bool
	// OT is the object type (ot): m, a, v, av, i, c, tt, k, o.
	OT string
	// BR is the encoded bitrate in kbps (br), BL the buffer length in ms
	// (bl), D the object duration in ms (d), MTP the measured throughput
	// in kbps (mtp); zero when absent.
	BR, BL, D, MTP int
	// SU is startup (su): the object is needed urgently at start-up.
	SU bool
}
