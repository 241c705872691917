package server

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/sse"
)

// WriteStream encodes a canonical stream to the client in its dialect,
// flushing per event. Before the first byte an error is a real HTTP error;
// after it, an in-band error event. edit, when set, may change each event
// (e.g. the reported model name) before it is encoded. It returns the
// upstream error, if any, for accounting.
func WriteStream(ctx context.Context, w http.ResponseWriter, codec dialect.Codec, req *llm.Request, stream llm.Stream, edit func(*llm.Event)) error {
	out := sse.NewWriter(w)
	enc := codec.NewStreamEncoder(req)
	buf := make([]byte, 0, 4096)
	for {
		ev, err := stream.Next(ctx)
		if errors.Is(err, io.EOF) {
			buf = enc.Finish(buf[:0])
			if len(buf) > 0 {
				_, _ = out.Write(buf)
			} else if !out.Started() {
				out.Start(http.StatusOK)
			}
			return nil
		}
		if err != nil {
			if llm.AsError(err).Kind == llm.ErrCanceled {
				return err
			}
			if !out.Started() {
				writeError(w, codec, err)
				return err
			}
			_, _ = out.Write(codec.ErrorEvent(err))
			return err
		}
		if edit != nil {
			edit(&ev)
		}
		buf, err = enc.Encode(buf[:0], ev)
		if err != nil {
			e := &llm.Error{Kind: llm.ErrBadGateway, Message: "upstream stream could not be translated", Err: err}
			if !out.Started() {
				writeError(w, codec, e)
			} else {
				_, _ = out.Write(codec.ErrorEvent(e))
			}
			return e
		}
		if len(buf) == 0 {
			continue
		}
		if _, err := out.Write(buf); err != nil {
			return &llm.Error{Kind: llm.ErrCanceled, Message: "client went away", Err: err}
		}
	}
}
