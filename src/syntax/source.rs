//! The text of every file read during one run, kept so that spans can be
//! shown and fragments compared later.

use std::path::PathBuf;

use crate::diag::{FileId, FileNames, Span};

/// One file as it was read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name ipsecctl would print: the path as given on the command line
    /// or in the `include` statement, or `stdin`.
    pub name: String,
    /// Where it was actually read from (differs from `name` under `--root`);
    /// `None` for standard input.
    pub path: Option<PathBuf>,
    pub text: Vec<u8>,
    /// The file and span of the `include` statement that pulled it in.
    pub included_from: Option<Span>,
    /// Owner and mode when it was read (not for standard input or text).
    pub uid: Option<u32>,
    pub mode: Option<u32>,
    /// Device and inode, to know a file met again under another name.
    pub identity: Option<(u64, u64)>,
    /// Made up in place of a keys file that is not there (see
    /// [`crate::syntax::load::KeysFile`]): no file was read.
    pub stand_in: bool,
    /// The keys file (or its stand-in).
    pub keys: bool,
}

impl SourceFile {
    /// Text that was not read from a file (standard input, a copy kept
    /// in memory): no path, owner or mode.
    pub fn text(name: &str, text: Vec<u8>) -> SourceFile {
        SourceFile {
            name: name.to_string(),
            path: None,
            text,
            included_from: None,
            uid: None,
            mode: None,
            identity: None,
            stand_in: false,
            keys: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        (self.files.len() - 1) as FileId
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id as usize]
    }

    /// Names a file differently in messages: a file read from one place and
    /// checked as if it were installed in another is named as the user knows it.
    pub fn rename(&mut self, id: FileId, name: &str) {
        if let Some(f) = self.files.get_mut(id as usize) {
            f.name = name.to_string();
        }
    }

    pub fn display_name(&self, id: FileId) -> &str {
        self.files
            .get(id as usize)
            .map(|f| f.name.as_str())
            .unwrap_or("?")
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (i as FileId, f))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The chain of includes that led to `id`, outermost first.
    pub fn include_chain(&self, id: FileId) -> Vec<FileId> {
        let mut chain = vec![id];
        let mut cur = id;
        while let Some(span) = self.get(cur).included_from {
            chain.push(span.file);
            cur = span.file;
        }
        chain.reverse();
        chain
    }

    /// The text of the line a span starts on, without its newline.
    pub fn line_text(&self, span: Span) -> &[u8] {
        let text = &self.get(span.file).text;
        let start = (span.start as usize).min(text.len());
        let line_start = text[..start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let line_end = text[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |p| start + p);
        &text[line_start..line_end]
    }
}

impl FileNames for Sources {
    fn display_name(&self, id: FileId) -> &str {
        Sources::display_name(self, id)
    }
}
