package synth

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Zip packs the files Write wrote as ANS publishes them: the two
// PS_LibreAcces files in one zip, the MSSanté file in another. The text files
// are removed; it returns the zips.
func Zip(paths []string) ([]string, error) {
	dir := filepath.Dir(paths[0])
	stamp := strings.TrimSuffix(filepath.Base(paths[0]), ".txt")
	stamp = stamp[strings.LastIndexByte(stamp, '_')+1:]
	zips := []string{
		filepath.Join(dir, "PS_LibreAcces_"+stamp+".zip"),
		filepath.Join(dir, "Extraction_Correspondance_MSSante_"+stamp+".zip"),
	}
	for i, group := range [][]string{paths[:2], paths[2:]} {
		if err := zipFiles(zips[i], group); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
	}
	return zips, nil
}

func zipFiles(zipPath string, files []string) error {
	out, err := os.Create(zipPath)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(out)
	for _, name := range files {
		if err := addToZip(zw, name); err != nil {
			out.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func addToZip(zw *zip.Writer, name string) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	w, err := zw.Create(filepath.Base(name))
	if err != nil {
		return err
	}
	_, err = io.Copy(w, in)
	return err
}
