package llama

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/qzoo/qzoo/internal/strictjson"

	"github.com/qzoo/qzoo/formats/hf"
	"github.com/qzoo/qzoo/formats/safetensors"
	"github.com/qzoo/qzoo/quant"
)

// A quantized Hugging Face directory: the linear weights as packed codes and scales (the
// layout is package formats/hf's "qzoo's quantized directory"), the rest in float.

// Keys of the quantization_config and the metadata.
const (
	hfQuantMethod = "qzoo"
	hfNF4Levels   = "qzoo_quant.nf4_levels"
)

// hfQuantConfig is config.json's quantization_config of a quantized export.
type hfQuantConfig struct {
	QuantMethod string `json:"quant_method"`
	Method      string `json:"method"`
	Bits        int    `json:"bits"`
	GroupSize   int    `json:"group_size"`
	Symmetric   bool   `json:"symmetric"`
	Scheme      string `json:"scheme"`
}

// WriteHFQuantized writes w as a quantized model directory (see the layout above) with the
// linear weights quantized by spec (rtn or nf4, without outliers, rotation or double
// quantization: [quant.Quantized.Parts]); the other tensors in opt.DType.
func (w *Weights) WriteHFQuantized(dir string, spec quant.Spec, opt HFOptions) error {
	if opt.DType == "" {
		opt.DType = safetensors.F32
	}
	if err := w.Config.Validate(); err != nil {
		return fmt.Errorf("llama: write %s: %w", dir, err)
	}
	if spec.Method == quant.MethodNF4 {
		spec.Bits = quant.NF4Bits
		if spec.GroupSize == 0 {
			spec.GroupSize = quant.DefaultNF4Block
		}
	}
	float, err := w.HFTensors(opt.DType)
	if err != nil {
		return fmt.Errorf("llama: write %s: %w", dir, err)
	}
	linear := map[string]bool{}
	for i := range w.Blocks {
		for _, name := range LinearNames {
			linear[hfName(i, name, "weight")] = true
		}
	}
	var out []safetensors.Tensor
	for _, t := range float {
		if !linear[t.Name] {
			out = append(out, t)
			continue
		}
		// The float tensor is the one to quantize, in Hugging Face's row order: read it back
		// as float32 from its own dtype would round twice; take w's values instead.
		values, err := hfLinearValues(w, t.Name)
		if err != nil {
			return err
		}
		q, err := quant.Quantize(values, t.Shape[0], t.Shape[1], spec, nil)
		if err != nil {
			return fmt.Errorf("llama: write %s: tensor %s: %w", dir, t.Name, err)
		}
		p, err := q.Parts()
		if err != nil {
			return fmt.Errorf("llama: write %s: %w", dir, err)
		}
		base := t.Name[:len(t.Name)-len(".weight")]
		out = append(out, safetensors.Tensor{Name: base + ".qweight", DType: safetensors.U8, Shape: []int{len(p.Codes)}, Data: p.Codes})
		if spec.Method == quant.MethodRTN {
			out = append(out, rawTensor(base+".scales", safetensors.F16, len(p.Scales), func(b []byte, i int) {
				binary.LittleEndian.PutUint16(b, p.Scales[i])
			}))
			if !spec.Symmetric {
				out = append(out, rawTensor(base+".zeros", safetensors.I32, len(p.Zeros), func(b []byte, i int) {
					binary.LittleEndian.PutUint32(b, p.Zeros[i])
				}))
			}
		} else {
			out = append(out, rawTensor(base+".absmax", safetensors.F32, len(p.Absmax), func(b []byte, i int) {
				binary.LittleEndian.PutUint32(b, math.Float32bits(p.Absmax[i]))
			}))
		}
	}
	if spec.Method == quant.MethodNF4 {
		levels := quant.NF4Levels()
		out = append(out, rawTensor(hfNF4Levels, safetensors.F64, len(levels), func(b []byte, i int) {
			binary.LittleEndian.PutUint64(b, math.Float64bits(levels[i]))
		}))
	}
	qc := hfQuantConfig{QuantMethod: hfQuantMethod, Method: spec.Method, Bits: spec.Bits, GroupSize: spec.GroupSize,
		Symmetric: spec.Symmetric, Scheme: spec.String()}
	cfg := hfConfigFor(w.Config, opt)
	raw, _ := json.Marshal(qc)
	cfg.Extra["quantization_config"] = raw
	meta := map[string]string{"format": "pt", "quant_method": hfQuantMethod, "method": qc.Method,
		"bits": strconv.Itoa(qc.Bits), "group_size": strconv.Itoa(qc.GroupSize),
		"symmetric": strconv.FormatBool(qc.Symmetric), "scheme": qc.Scheme}
	if err := hf.Write(dir, cfg, out, meta); err != nil {
		return err
	}
	return writeHFTokenizer(dir, opt)
}

// hfLinearValues returns the float32 values of the linear weight with Hugging Face name name,
// in Hugging Face's row order.
func hfLinearValues(w *Weights, name string) ([]float32, error) {
	hd := w.HeadDim()
	for i := range w.Blocks {
		for _, ln := range LinearNames {
			if hfName(i, ln, "weight") != name {
				continue
			}
			v := *w.Blocks[i].Linear(ln)
			if ln == "wq" || ln == "wk" {
				_, in := w.LinearShape(ln)
				v = halfFromInterleaved(v, hd, in)
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("llama: no linear weight %s", name)
}

func rawTensor(name string, dtype safetensors.DType, n int, put func(b []byte, i int)) safetensors.Tensor {
	size := dtype.Size()
	data := make([]byte, n*size)
	for i := range n {
		put(data[i*size:], i)
	}
	return safetensors.Tensor{Name: name, DType: dtype, Shape: []int{n}, Data: data}
}

// hfQuantization reads a config's quantization_config: nil when absent; an error for one
// that is not qzoo's (GPTQ, AWQ, bitsandbytes: not read) or out of range.
func hfQuantization(c *hf.Config) (*hfQuantConfig, error) {
	raw, ok := c.Extra["quantization_config"]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	qc := &hfQuantConfig{}
	if err := json.Unmarshal(raw, qc); err != nil {
		return nil, fmt.Errorf("key \"quantization_config\": %w", strictjson.Describe(raw, err))
	}
	if qc.QuantMethod != hfQuantMethod {
		return nil, fmt.Errorf("key \"quantization_config\": quant_method %q is not supported (only qzoo's own %q)", qc.QuantMethod, hfQuantMethod)
	}
	switch {
	case qc.Method == quant.MethodRTN && qc.Bits >= 2 && qc.Bits <= 16:
	case qc.Method == quant.MethodNF4 && qc.Bits == quant.NF4Bits && qc.GroupSize > 0:
	default:
		return nil, fmt.Errorf("key \"quantization_config\": method %q with %d bits is not rtn (2..16 bits) or nf4", qc.Method, qc.Bits)
	}
	if qc.GroupSize < 0 || qc.GroupSize > 1<<24 {
		return nil, fmt.Errorf("key \"quantization_config\": group_size %d out of [0, %d]", qc.GroupSize, 1<<24)
	}
	return qc, nil
}

// dequantizeHF reads the quantized linear weight base (…q_proj, without ".weight") of shape
// [out, in] from d and returns ŵ (see the layout above); errors name the file and tensor.
func dequantizeHF(d *hf.Dir, qc *hfQuantConfig, levels []float64, base string, out, in int) ([]float32, error) {
	n := out * in
	groupSize, flat := qc.GroupSize, false
	if groupSize == 0 {
		groupSize = in
	}
	perRow := (in + groupSize - 1) / groupSize
	groups := out * perRow
	if groupSize > in {
		flat, groups = true, (n+groupSize-1)/groupSize
	}
	codesBytes, err := rawOf(d, base+".qweight", safetensors.U8, (n*qc.Bits+7)/8)
	if err != nil {
		return nil, err
	}
	codes, err := quant.UnpackWide(codesBytes, qc.Bits, n)
	if err != nil {
		return nil, fmt.Errorf("llama: %s: tensor %q: %w", d.Path, base+".qweight", err)
	}
	group := func(k int) int {
		if flat {
			return k / groupSize
		}
		r, c := k/in, k%in
		return r*perRow + c/groupSize
	}
	wq := make([]float32, n)
	if qc.Method == quant.MethodNF4 {
		absmax, err := d.Float32(base+".absmax", groups)
		if err != nil {
			return nil, err
		}
		for k, q := range codes {
			if c := absmax[group(k)]; c > 0 {
				wq[k] = float32(levels[q] * float64(c))
			}
		}
		return wq, nil
	}
	scales, err := d.Float32(base+".scales", groups)
	if err != nil {
		return nil, err
	}
	zeros := make([]float64, groups)
	if qc.Symmetric {
		for g := range zeros {
			zeros[g] = float64(int(1)<<(qc.Bits-1) - 1)
		}
	} else {
		b, err := rawOf(d, base+".zeros", safetensors.I32, 4*groups)
		if err != nil {
			return nil, err
		}
		for g := range zeros {
			zeros[g] = float64(int32(binary.LittleEndian.Uint32(b[4*g:])))
		}
	}
	for k, q := range codes {
		g := group(k)
		wq[k] = float32((float64(q) - zeros[g]) * float64(scales[g]))
	}
	return wq, nil
}

// rawOf returns the bytes of a one-dimensional tensor of dtype and the given byte length.
func rawOf(d *hf.Dir, name string, dtype safetensors.DType, bytes int) ([]byte, error) {
	info, file, ok := d.Info(name)
	if !ok {
		return nil, fmt.Errorf("hf: %s: no tensor %q", d.Path, name)
	}
	if info.DType != dtype || int(info.End-info.Begin) != bytes {
		return nil, fmt.Errorf("hf: %s: tensor %q is %s of %d bytes, want %s of %d", file, name, info.DType, info.End-info.Begin, dtype, bytes)
	}
	return d.Bytes(name)
}
