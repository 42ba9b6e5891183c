package upstream

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// Classify maps a request's error, or its status when err is nil, to the
// Outcome to Report: a refused or unreachable connection is ConnectError,
// a deadline is Timeout, another transport error is ServerError (the
// origin gave no usable answer); a 5xx status is ServerError, any other
// status Success.
func Classify(err error, status int) Outcome {
	if err == nil {
		if status >= 500 {
			return ServerError
		}
		return Success
	}
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ECONNRESET) && isDial(err):
		return ConnectError
	case errors.As(err, &op) && op.Op == "dial":
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return Timeout
		}
		return ConnectError
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return ServerError
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
