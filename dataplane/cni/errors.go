package cni

import (
	"context"
	"errors"
	"net/http"

	"github.com/containernetworking/cni/pkg/types"
)

// asCNIError turns err into a CNI error: a [*types.Error] anywhere in its
// chain keeps its code, a cancelled or timed-out context is "try again
// later", anything else gets fallback.
func asCNIError(err error, fallback uint) *types.Error {
	var e *types.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return types.NewError(types.ErrTryAgainLater, err.Error(), "")
	}
	return types.NewError(fallback, err.Error(), "")
}

// httpStatus is the HTTP status the agent answers a CNI error with. The
// plugin reads the code from the body; the status is for humans.
func httpStatus(code uint) int {
	switch code {
	case types.ErrIncompatibleCNIVersion, types.ErrUnsupportedField,
		types.ErrInvalidEnvironmentVariables, types.ErrDecodingFailure,
		types.ErrInvalidNetworkConfig, types.ErrInvalidNetNS:
		return http.StatusBadRequest
	case types.ErrUnknownContainer:
		return http.StatusNotFound
	case types.ErrTryAgainLater, types.ErrPluginNotAvailable, types.ErrLimitedConnectivity:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
