package validation

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var dataPath = field.NewPath("data")

// validateSecret checks keys and total size of the data, then the keys a
// typed secret must carry. Default folds stringData into data first; any
// stringData left is checked the same way.
func validateSecret(s *corev1.Secret) field.ErrorList {
	errs := validateMeta(&s.ObjectMeta, namespaced, nameIsDNSSubdomain)
	size := 0
	for _, k := range sortedKeys(s.Data) {
		errs = append(errs, invalid(dataPath.Key(k), k, validation.IsConfigMapKey(k))...)
		size += len(s.Data[k])
	}
	for _, k := range sortedKeys(s.StringData) {
		if _, ok := s.Data[k]; !ok {
			errs = append(errs, invalid(field.NewPath("stringData").Key(k), k, validation.IsConfigMapKey(k))...)
			size += len(s.StringData[k])
		}
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(dataPath, "", maxDataSize))
	}
	return append(errs, validateSecretType(s)...)
}

func validateSecretType(s *corev1.Secret) field.ErrorList {
	has := func(k string) bool {
		_, inData := s.Data[k]
		_, inString := s.StringData[k]
		return inData || inString
	}
	require := func(keys ...string) field.ErrorList {
		var errs field.ErrorList
		for _, k := range keys {
			if !has(k) {
				errs = append(errs, field.Required(dataPath.Key(k), ""))
			}
		}
		return errs
	}
	switch s.Type {
	case corev1.SecretTypeTLS:
		return require(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			return field.ErrorList{field.Required(metaPath.Child("annotations").Key(corev1.ServiceAccountNameKey), "")}
		}
	case corev1.SecretTypeDockercfg:
		return validateJSONKey(s, corev1.DockerConfigKey, require)
	case corev1.SecretTypeDockerConfigJson:
		return validateJSONKey(s, corev1.DockerConfigJsonKey, require)
	case corev1.SecretTypeBasicAuth:
		if !has(corev1.BasicAuthUsernameKey) && !has(corev1.BasicAuthPasswordKey) {
			return require(corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 && s.StringData[corev1.SSHAuthPrivateKey] == "" {
			return field.ErrorList{field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), "")}
		}
	}
	return nil
}

// validateJSONKey: a docker config secret carries key, holding JSON.
func validateJSONKey(s *corev1.Secret, key string, require func(...string) field.ErrorList) field.ErrorList {
	if errs := require(key); len(errs) > 0 {
		return errs
	}
	v, ok := s.Data[key]
	if !ok {
		v = []byte(s.StringData[key])
	}
	if err := json.Unmarshal(v, &map[string]any{}); err != nil {
		return field.ErrorList{field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error())}
	}
	return nil
}

// validateSecretUpdate: the type never changes; an immutable secret keeps
// its data and stays immutable.
func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	errs := immutable(s.Type, old.Type, field.NewPath("type"))
	if old.Immutable == nil || !*old.Immutable {
		return errs
	}
	if s.Immutable == nil || !*s.Immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableData))
	}
	if !apiequality.Semantic.DeepEqual(s.Data, old.Data) {
		errs = append(errs, field.Forbidden(dataPath, immutableData))
	}
	return errs
}
