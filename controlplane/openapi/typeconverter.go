package openapi

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// scaleDefinition is the model of the /scale subresource's body. It is not
// a served kind (autoscaling/v1 is not a served group-version), so the
// namer does not mark it; server-side apply to /scale needs its GVK.
const scaleDefinition = "io.k8s.api.autoscaling.v1.Scale"

// TypeConverter returns the structured-merge-diff type converter of the
// served kinds (and of autoscaling/v1 Scale), built from the same models
// as the v2 document. Server-side apply and managedFields tracking in the
// API server use it, as kube-apiserver builds its own from its OpenAPI
// definitions.
func (d *Documents) TypeConverter() (managedfields.TypeConverter, error) {
	// A JSON round trip turns the namer's typed GVK extensions into the
	// generic []any of maps that managedfields' model index reads.
	raw, err := json.Marshal(d.V2.Definitions)
	if err != nil {
		return nil, fmt.Errorf("encode definitions: %w", err)
	}
	var models map[string]*spec.Schema
	if err := json.Unmarshal(raw, &models); err != nil {
		return nil, fmt.Errorf("decode definitions: %w", err)
	}
	if s, ok := models[scaleDefinition]; ok && s.Extensions[extensionGVK] == nil {
		s.AddExtension(extensionGVK, []any{map[string]any{"group": "autoscaling", "version": "v1", "kind": "Scale"}})
	}
	tc, err := managedfields.NewTypeConverter(models, false)
	if err != nil {
		return nil, fmt.Errorf("type converter: %w", err)
	}
	return tc, nil
}
